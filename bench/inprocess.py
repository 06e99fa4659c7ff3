"""Measurements inside the benchmark process: query counts, per-request cost, plans, assign_agent."""

import logging
import platform
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench import fill
from bench.environment import MIX, TARGETS, answer_params, write_requests
from orders import services
from orders.models import Agent, Order, live_orders
from orders.routing import resolve
from voice import calls
from voice.plivo import params


def query_counts() -> dict[str, int]:
    """SQL statements one answer runs, by caller kind (signature checking runs none)."""
    counts = {}
    samples = {kind: fill.callers(kind, 1)[0] for kind in MIX}
    samples["not a number (SIP URI)"] = ("sip:alice@example.com", samples["known"][1])
    for kind, (caller, proxy) in samples.items():
        with CaptureQueriesContext(connection) as queries:
            calls.answer(params.Call.read(answer_params(caller, proxy)))
        counts[kind] = len(queries)
    return counts


def in_process_costs(count: int = 1500) -> dict[str, dict[str, float]]:
    """Per-request cost of each target through Django's full stack in this process, one request at a time.

    CPU is this process's own time (Python: middleware, signature, parsing, SQL
    round trips, XML), not Postgres's. With one request in flight there is no
    queueing, so these latencies move far less with other load on the machine
    than wrk's do: they are the steadier measure of growth from 1k to 1M orders.
    """
    from django.test import Client

    callers = {kind: fill.callers(kind, 500) for kind in MIX}
    scratch = Path(tempfile.mkdtemp(prefix="bench-inproc-"))
    write_requests(scratch / "requests.txt", callers, count * len(TARGETS))
    lines = (scratch / "requests.txt").read_text().splitlines()
    shutil.rmtree(scratch)
    client = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    voice_logger = logging.getLogger("voice.calls")
    voice_logger.setLevel(logging.WARNING)  # one line per call would flood the output
    costs = {}
    try:
        for index, (name, path) in enumerate(TARGETS.items()):
            walls = []
            cpu = time.process_time()
            for line in lines[index * count : (index + 1) * count]:
                nonce, signature, body = line.split("\t", 2)
                headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}
                started = time.perf_counter()
                response = client.post(path, body, content_type="application/x-www-form-urlencoded", headers=headers)
                walls.append(time.perf_counter() - started)
                assert response.status_code == 200, (name, response.status_code)
            percentiles = statistics.quantiles(walls, n=100)
            costs[name] = {
                "cpu_us": (time.process_time() - cpu) / count * 1e6,
                "p50_us": percentiles[49] * 1e6,
                "p99_us": percentiles[98] * 1e6,
            }
    finally:
        voice_logger.setLevel(logging.NOTSET)
    return costs


def explain_routing() -> dict[str, str]:
    """EXPLAIN ANALYZE of the routing query the webhook runs, for a customer and an agent."""
    plans = {}
    known = fill.callers("known", 400)
    # Agents are +1 415 300 …, stores +1 510 400 …; the rest are customers.
    customer = next(pair for pair in known if not pair[0].startswith(("+1415300", "+1510400")))
    agent = next(pair for pair in known if pair[0].startswith("+1415300"))
    for role, (caller, proxy) in {"customer": customer, "agent": agent}.items():
        with CaptureQueriesContext(connection) as queries:
            resolve(caller, proxy)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + queries[0]["sql"])
            plans[role] = "\n".join(row[0] for row in cursor.fetchall())
    return plans


def time_assign_agent(count: int = 400, warmup: int = 20) -> dict:
    """assign_agent on new orders of repeat customers, random agents, 100k live lines."""
    customers = [secrets.randbelow(fill.CUSTOMERS) for _ in range(count + warmup)]
    orders = Order.objects.bulk_create(
        Order(
            reference=f"T{i:07d}",
            customer_name=f"Customer {c}",
            customer_phone=f"+1{fill.AREA_CODES[c % len(fill.AREA_CODES)]}{2000000 + c // len(fill.AREA_CODES)}",
        )
        for i, c in enumerate(customers)
    )
    agent_ids = list(Agent.objects.values_list("pk", flat=True))
    live = live_orders().count()
    timings = []
    for i, order in enumerate(orders):
        agent = Agent.objects.get(pk=agent_ids[secrets.randbelow(len(agent_ids))])
        started = time.perf_counter()
        services.assign_agent(order, agent)
        if i >= warmup:
            timings.append((time.perf_counter() - started) * 1000)
    percentiles = statistics.quantiles(timings, n=100)
    return {"live_orders": live, "samples": len(timings), "p50_ms": percentiles[49], "p99_ms": percentiles[98]}


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    free = subprocess.run(["free", "-m"], capture_output=True, text=True).stdout.strip()
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        postgres = cursor.fetchone()[0].split(" on ")[0]
    return {"cpu": model, "nproc": nproc, "free": free, "python": platform.python_version(), "postgres": postgres}
