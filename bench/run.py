"""`make bench`: the answer webhook at 1,000 and 1,000,000 orders, against its baselines.

1. Recreates a dedicated Postgres database (BENCH_DATABASE_URL, default
   mask_bench on the local server) and fills it with SQL (bench/fill.py).
2. Starts gunicorn on loopback with the production settings plus the two
   baseline views (bench/settings.py), signature checks on.
3. Drives the webhook, the floor and the ceiling with wrk, in alternating
   rounds so machine noise hits all three alike, at 8 and 32 connections.
   Every request is pre-signed and carries its own CallUUID.
4. Counts SQL queries per answer by caller kind, EXPLAINs the routing query,
   times assign_agent with 100,000 live orders.
5. Prints and writes bench/RESULTS.md.
"""

import json
import logging
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mask_bench")
DURATION = int(os.environ.get("BENCH_DURATION", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = (8, 32)
# Enough distinct signed bodies that no run repeats a CallUUID (checked below).
BODIES = int(os.environ.get("BENCH_BODIES", "30000"))
WRK_THREADS = 2
MIX = {"known": 70, "ambiguous": 10, "unknown": 20}
TARGETS = {"webhook": "/voice/answer/", "floor": "/bench/floor/", "ceiling": "/bench/ceiling/"}
DURABLE_FLOOR = "/bench/floor-durable/"

ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    "DATABASE_URL": DATABASE_URL,
    "DEBUG": "false",
    "SECRET_KEY": "bench-" + secrets.token_hex(16),
    # https, as in production: requests arrive with X-Forwarded-Proto from "the proxy".
    "PUBLIC_BASE_URL": "https://masking.example.com",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PLIVO_AUTH_ID": "MABENCHBENCHBENCH000",
    "PLIVO_AUTH_TOKEN": "bench-" + secrets.token_hex(16),
    "PLIVO_VALIDATE_SIGNATURES": "true",
    "MASKING_SUPPORT_NUMBER": "",
}
os.environ.update(ENVIRONMENT)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench import fill  # noqa: E402
from orders import services  # noqa: E402
from orders.models import Agent, Order, live_orders  # noqa: E402
from orders.routing import resolve  # noqa: E402
from voice import calls  # noqa: E402
from voice.webhook import expected_signature  # noqa: E402

LUA = Path(__file__).with_name("answer.lua")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- setup -------------------------------------------------------------------


def ensure_wrk() -> str:
    if not shutil.which("wrk") and os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing wrk (Debian package)")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    path = shutil.which("wrk")
    if not path:
        sys.exit("wrk is not installed: apt-get install wrk")
    return path


def recreate_database() -> None:
    import psycopg2

    url = urlsplit(DATABASE_URL)
    name = url.path.lstrip("/")
    try:
        admin = psycopg2.connect(
            dbname="postgres", user=url.username, password=url.password, host=url.hostname, port=url.port or 5432
        )
    except psycopg2.OperationalError as error:
        sys.exit(
            f"PostgreSQL is not reachable at {url.hostname}:{url.port or 5432} ({error}); start it, or set "
            "BENCH_DATABASE_URL to a server where this user may create databases."
        )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


# --- requests ----------------------------------------------------------------


def answer_params(caller: str, proxy: str) -> dict[str, str]:
    """What Plivo posts to the answer URL (numbers as digits, no +)."""
    call_uuid = str(uuid.uuid4())
    return {
        "ALegRequestUUID": call_uuid,
        "ALegUUID": call_uuid,
        "BillRate": "0.0085",
        "CallStatus": "ringing",
        "CallUUID": call_uuid,
        "CallerName": caller.lstrip("+"),
        "Direction": "inbound",
        "Event": "StartApp",
        "From": caller.lstrip("+"),
        "ParentAuthID": ENVIRONMENT["PLIVO_AUTH_ID"],
        "RequestUUID": call_uuid,
        "SessionStart": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "To": proxy.lstrip("+"),
    }


def write_requests(path: Path, callers: dict[str, list[tuple[str, str]]], count: int) -> None:
    """``count`` signed answer requests, caller kinds interleaved in MIX proportions."""
    kinds = [kind for kind, weight in MIX.items() for _ in range(weight) if callers[kind]]
    url = ENVIRONMENT["PUBLIC_BASE_URL"] + TARGETS["webhook"]
    token = ENVIRONMENT["PLIVO_AUTH_TOKEN"]
    with path.open("w") as out:
        for i in range(count):
            pool = callers[kinds[i % len(kinds)]]
            caller, proxy = pool[(i // len(kinds)) % len(pool)]
            params = answer_params(caller, proxy)
            nonce = str(secrets.randbelow(10**20))
            signature = expected_signature("POST", url, {k: [v] for k, v in params.items()}, nonce, token)
            out.write(f"{nonce}\t{signature.decode()}\t{urlencode(params)}\n")


# --- server and load ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn with the production config (gunicorn.conf.py) on a loopback port."""

    def __init__(self, logfile: Path) -> None:
        self.port = free_port()
        self.logfile = logfile.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "numbermasking.wsgi", "--bind", f"127.0.0.1:{self.port}"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                sys.exit(f"gunicorn did not come up; see {logfile}")
            time.sleep(0.3)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.logfile.close()


def run_wrk(wrk: str, server: Server, path: str, requests: Path, connections: int, duration: int) -> dict:
    command = [wrk, f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s"]
    command += ["-s", str(LUA), server.url + path, "--", path, str(WRK_THREADS)]
    output = subprocess.run(
        command, env={**os.environ, "BENCH_REQUESTS": str(requests)}, capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    result = json.loads(line.removeprefix("BENCH "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def measure(wrk: str, label: str, workdir: Path) -> dict:
    """All targets at every connection count, ROUNDS alternating rounds each."""
    callers = {kind: fill.callers(kind, 3000 if kind == "known" else 1000) for kind in MIX}
    log(f"{label}: sampled callers " + ", ".join(f"{k} {len(v)}" for k, v in callers.items()))
    ceiling_requests = workdir / f"{label}-ceiling.txt"
    write_requests(ceiling_requests, callers, 5000)
    server = Server(workdir / "gunicorn.log")
    counter = 0

    def fresh_requests() -> Path:
        nonlocal counter
        counter += 1
        path = workdir / f"{label}-{counter}.txt"
        write_requests(path, callers, BODIES)
        return path

    runs: dict[tuple[str, int], list[dict]] = {}
    try:
        warmup_requests = workdir / f"{label}-warmup.txt"
        write_requests(warmup_requests, callers, 5000)
        for path in [*TARGETS.values(), DURABLE_FLOOR]:  # every worker connected, every code path loaded
            run_wrk(wrk, server, path, warmup_requests, 8, 2)
        for connections in CONNECTIONS:
            for round_number in range(ROUNDS):
                plan = list(TARGETS.items())
                if connections == CONNECTIONS[0]:
                    plan.append(("floor_durable", DURABLE_FLOOR))
                for name, path in plan:
                    requests = ceiling_requests if name == "ceiling" else fresh_requests()
                    result = run_wrk(wrk, server, path, requests, connections, DURATION)
                    if name != "ceiling":
                        result["repeated_bodies"] = max(0, result["requests"] - BODIES)
                    runs.setdefault((name, connections), []).append(result)
                    log(
                        f"{label} c={connections} round {round_number + 1}: {name:13} {result['rps']:7.0f} req/s  "
                        f"p50 {result['p50_us'] / 1000:6.2f} ms  p99 {result['p99_us'] / 1000:6.2f} ms"
                        + (f"  non-2xx {result['non2xx']}" if result["non2xx"] else "")
                    )
                    for stale in workdir.glob(f"{label}-[0-9]*.txt"):
                        stale.unlink()
    finally:
        server.stop()
    summary = {}
    for (name, connections), results in runs.items():
        summary[f"{name}@{connections}"] = {
            "rps": statistics.median(r["rps"] for r in results),
            "p50_ms": statistics.median(r["p50_us"] for r in results) / 1000,
            "p99_ms": statistics.median(r["p99_us"] for r in results) / 1000,
            "rps_rounds": [round(r["rps"]) for r in results],
            "non2xx": sum(r["non2xx"] + r["socket_errors"] for r in results),
            "repeated_bodies": sum(r.get("repeated_bodies", 0) for r in results),
        }
    return summary


# --- in-process measurements ------------------------------------------------


def query_counts() -> dict[str, int]:
    """SQL statements one answer runs, by caller kind (signature checking runs none)."""
    counts = {}
    samples = {kind: fill.callers(kind, 1)[0] for kind in MIX}
    samples["not a number (SIP URI)"] = ("sip:alice@example.com", samples["known"][1])
    for kind, (caller, proxy) in samples.items():
        with CaptureQueriesContext(connection) as queries:
            calls.answer(answer_params(caller, proxy))
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
    customer = next(pair for pair in known if not pair[0].startswith("+1415300"))
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


# --- main ----------------------------------------------------------------------


def main() -> None:
    started = time.monotonic()
    wrk = ensure_wrk()
    results: dict = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load_before": os.getloadavg()}
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    log(f"recreating {urlsplit(DATABASE_URL).path.lstrip('/')}; scratch files in {workdir}")
    recreate_database()
    call_command("migrate", verbosity=0)

    fill.fill_pool()
    fill.fill_orders(1, 1000)
    fill.analyze()
    results["1k"] = measure(wrk, "1k", workdir)
    results["in_process_1k"] = in_process_costs()

    log("filling to 1,000,000 orders")
    fill_started = time.monotonic()
    fill.fill_orders(1001, 1_000_000)
    fill.analyze()
    results["fill_seconds"] = time.monotonic() - fill_started
    log(f"filled in {results['fill_seconds']:.0f} s")
    results["1M"] = measure(wrk, "1M", workdir)

    results["queries"] = query_counts()
    results["in_process_1M"] = in_process_costs()
    results["explain"] = explain_routing()
    log("timing assign_agent")
    results["assign_agent"] = time_assign_agent()
    results["machine"] = machine()
    results["load_after"] = os.getloadavg()
    results["gunicorn"] = {"workers": _gunicorn_setting("workers"), "threads": _gunicorn_setting("threads")}
    results["elapsed_seconds"] = time.monotonic() - started
    shutil.rmtree(workdir, ignore_errors=True)

    # The raw figures first, so a report bug never costs a ten-minute run.
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2, default=str))
    write_report(results)


def write_report(results: dict) -> None:
    from bench.report import render

    text = render(results, duration=DURATION, rounds=ROUNDS, bodies=BODIES, mix=MIX)
    (ROOT / "bench" / "RESULTS.md").write_text(text)
    print(text)


def _gunicorn_setting(name: str) -> int:
    import runpy

    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))[name]


if __name__ == "__main__":
    main()
