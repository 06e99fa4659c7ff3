"""Event delivery on Postgres, against a floor measured in the same run; writes bench/events.json and
bench/RESULTS.md's "Event delivery" section.

    .venv/bin/python -m bench.events        (needs the local Postgres; about three minutes; part of `make bench`)

- Floor: a plain loop that signs the same events as Standard Webhooks says and POSTs them, one after
  another, over one kept-alive connection to the same receiver: what delivery would cost with no
  database, no claiming and no checks.
- Throughput: EVENTS events raised first, then one or two ``manage.py worker`` processes drain them;
  events per second from the first arrival to the last.
- Latency: one worker running, events raised one transaction each at 20 a second, each timed from its
  ``occurred_at`` to its arrival.
- Transitions: order transitions that raise events (assign, picked up, delivered) through the API under
  gunicorn, 8 concurrent clients against 1: no lock serialises the transactions that raise events.

The receiver runs in a process of its own (bench/receiver.py), so it shares no interpreter lock with
the floor's loop or the workers.
"""

import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

PROJECT = Path(__file__).resolve().parent.parent
DATABASE = "numbermasking_bench_events"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
EVENTS = int(os.environ.get("BENCH_EVENTS", "5000"))
LATENCY_EVENTS = int(os.environ.get("BENCH_LATENCY_EVENTS", "400"))
TRANSITION_SECONDS = float(os.environ.get("BENCH_TRANSITION_SECONDS", "15"))
RESULTS_JSON = PROJECT / "bench" / "events.json"


def log(message: str) -> None:
    print(f"[bench.events {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def environment() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "SECRET_KEY": "bench-only",
        "DEBUG": "false",
        "ENV_FILE": "",
        "PLIVO_AUTH_TOKEN": "bench",
        "LOG_LEVEL": "WARNING",
        "EVENTS_ALLOWED_NETWORKS": "127.0.0.1/32",
    }


def create_database() -> None:
    admin = psycopg2.connect("dbname=postgres user=postgres host=127.0.0.1")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {DATABASE}")
    admin.close()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=PROJECT, env=environment(), check=True)


class Receiver:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver"], cwd=PROJECT, stdout=subprocess.PIPE, text=True
        )
        self.port = int(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}/events"

    def arrivals(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/arrivals", timeout=30) as response:  # noqa: S310
            return json.loads(response.read())

    def forget(self) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/arrivals", method="DELETE")  # noqa: S310
        urllib.request.urlopen(request, timeout=30).close()  # noqa: S310

    def wait_for(self, count: int, timeout: float = 600) -> dict[str, float]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            arrivals = self.arrivals()
            if len(arrivals) >= count:
                return arrivals
            time.sleep(0.2)
        raise RuntimeError(f"only {len(arrivals)} of {count} events arrived")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def setup_django() -> None:
    import django

    os.environ.update(environment())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numbermasking.settings")
    django.setup()


def reset(receiver: Receiver) -> None:
    from django_tasks_db.models import DBTaskResult

    from orders.models import Agent, Event, Order, ProxyNumber, WebhookEndpoint

    Event.objects.all().delete()
    DBTaskResult.objects.all().delete()
    WebhookEndpoint.objects.all().delete()
    Order.objects.all().delete()
    Agent.objects.all().delete()
    ProxyNumber.objects.all().delete()
    WebhookEndpoint.objects.create(url=receiver.url)
    receiver.forget()


def raise_events(count: int, every: float = 0.0) -> dict[str, float]:
    from orders.events import emit
    from orders.models import EventType

    occurred = {}
    for n in range(count):
        event = emit(EventType.CALL_MISSED, {"reference": f"B{n}", "reason": "busy"})
        occurred[event.id] = event.occurred_at.timestamp()
        if every:
            time.sleep(every)
    return occurred


def workers(count: int) -> list[subprocess.Popen]:
    command = [sys.executable, "manage.py", "worker", "--no-tasks"]
    return [subprocess.Popen(command, cwd=PROJECT, env=environment()) for _ in range(count)]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait()


def cpu_times() -> tuple[int, int]:
    """The machine's (busy, total) CPU time so far, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def busy_since(start: tuple[int, int]) -> float:
    """The share of the machine's CPU time (all cores) that was busy since ``start``."""
    busy, total = cpu_times()
    return round((busy - start[0]) / max(1, total - start[1]), 2)


def floor(receiver: Receiver) -> dict:
    """The same events, signed and POSTed in a plain loop over one kept-alive connection."""
    from standardwebhooks.webhooks import Webhook

    from orders.models import Event, WebhookEndpoint

    reset(receiver)
    raise_events(EVENTS)
    signer = Webhook(WebhookEndpoint.objects.get().secret)
    payloads = [event.payload for event in Event.objects.order_by("seq")]
    connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=15)
    cpu = cpu_times()
    started = time.time()
    for payload in payloads:
        body = json.dumps(payload, separators=(",", ":"))
        sent_at = datetime.now(tz=UTC)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": payload["id"],
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signer.sign(payload["id"], sent_at, body),
        }
        connection.request("POST", "/events", body.encode(), headers)
        response = connection.getresponse()
        response.read()
    elapsed = time.time() - started
    connection.close()
    return {
        "round": "floor",
        "delivered": len(payloads),
        "events_per_s": round(len(payloads) / elapsed, 1),
        "cpu_busy": busy_since(cpu),
    }


def throughput(receiver: Receiver, count: int) -> dict:
    """A backlog drained by ``count`` workers: events per second from the first arrival to the last."""
    reset(receiver)
    raise_events(EVENTS)
    processes = workers(count)
    try:
        receiver.wait_for(1, timeout=60)
        cpu = cpu_times()
        arrivals = receiver.wait_for(EVENTS)
        cpu_busy = busy_since(cpu)
    finally:
        stop(processes)
    first, last = min(arrivals.values()), max(arrivals.values())
    return {
        "round": f"throughput, {count} worker(s)",
        "delivered": len(arrivals),
        "events_per_s": round((len(arrivals) - 1) / (last - first), 1),
        "cpu_busy": cpu_busy,
    }


def latency(receiver: Receiver) -> dict:
    """One worker, events raised one transaction each at 20 a second: change-to-receiver time."""
    reset(receiver)
    processes = workers(1)
    try:
        raise_events(1)
        receiver.wait_for(1, timeout=60)  # the worker is up and listening
        receiver.forget()
        occurred = raise_events(LATENCY_EVENTS, every=0.05)
        arrivals = receiver.wait_for(LATENCY_EVENTS)
    finally:
        stop(processes)
    latencies = sorted((arrivals[i] - occurred[i]) * 1000 for i in occurred)
    return {
        "round": "latency, 1 worker, 20 events/s",
        "delivered": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
    }


def transitions(receiver: Receiver) -> dict:
    """Order transitions through the API under gunicorn, by 1 client then 8 at once: transitions per second."""
    from orders.api import keys
    from orders.models import Agent, ProxyNumber

    reset(receiver)
    for n in range(40):
        ProxyNumber.objects.create(number=f"+1415555{n:04d}")
    agents = [Agent.objects.create(name=f"Agent {n}", phone=f"+1415666{n:04d}").pk for n in range(8)]
    _, key = keys.create_api_key("bench")
    port = _free_port()
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "numbermasking.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=PROJECT,
        env={**environment(), "API_THROTTLE_RATE": "1000000/min"},
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_http(port)
        rates = {clients: _transitions_per_second(port, key, agents, clients) for clients in (1, 8, 1, 8)}
    finally:
        gunicorn.terminate()
        gunicorn.wait()
    return {
        "round": "event-raising API transitions",
        "one_client_per_s": rates[1],
        "eight_clients_per_s": rates[8],
        "ratio": round(rates[8] / rates[1], 2),
    }


def _transitions_per_second(port: int, key: str, agents: list[int], clients: int) -> float:
    counts = [0] * clients
    deadline = time.time() + TRANSITION_SECONDS

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}

        def post(path: str, body: dict | None = None) -> dict:
            connection.request("POST", f"/api/v1/{path}", json.dumps(body or {}), headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status >= 300:
                raise RuntimeError(f"{path}: {response.status} {answer[:200]!r}")
            return json.loads(answer)

        while time.time() < deadline:
            phone = f"+1415777{secrets.randbelow(10000):04d}"
            reference = post("orders/", {"customer_name": "Bench", "customer_phone": phone})["reference"]
            post(f"orders/{reference}/assign/", {"agent": agents[index % len(agents)]})
            post(f"orders/{reference}/picked-up/")
            post(f"orders/{reference}/delivered/")
            counts[index] += 3
        connection.close()

    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return round(sum(counts) / (time.time() - started), 1)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_http(port: int) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()  # noqa: S310
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not come up")


def main() -> None:
    started = time.monotonic()
    log("creating the database")
    create_database()
    setup_django()
    receiver = Receiver()
    try:
        results = []
        # Alternating, so that the machine's ups and downs hit the floor and the workers alike.
        alternating = [(floor, ()), (throughput, (1,)), (throughput, (2,))] * 3
        for measure, args in (*alternating, (latency, ()), (transitions, ())):
            log(f"{measure.__name__} {' '.join(map(str, args))}")
            results.append(measure(receiver, *args))
            log(json.dumps(results[-1]))
    finally:
        receiver.stop()
    run = {
        "date": f"{datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC",
        "events": EVENTS,
        "elapsed_seconds": round(time.monotonic() - started),
        "rounds": results,
    }
    RESULTS_JSON.write_text(json.dumps(run, indent=2) + "\n")
    log(f"wrote {RESULTS_JSON.relative_to(PROJECT)}")
    from bench.report import rewrite

    print(rewrite())


if __name__ == "__main__":
    main()
