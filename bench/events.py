"""Event delivery on Postgres: latency from change to receiver, and throughput with one and two workers.

    .venv/bin/python -m bench.events        (needs the local Postgres; about two minutes)

Latency: one ``manage.py db_worker``, EVENTS events raised one transaction
each at a pace it keeps up with, each timed from its ``occurred_at`` to its
arrival at a receiver on loopback. Throughput: EVENTS events raised first,
then one or two workers started; deliveries per second until the last
arrives (worker start-up included).
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg2

PROJECT = Path(__file__).resolve().parent.parent
DATABASE = "numbermasking_bench_events"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
EVENTS = int(os.environ.get("BENCH_EVENTS", "1000"))


class Receiver(BaseHTTPRequestHandler):
    arrivals: dict[str, float] = {}
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.arrivals.setdefault(self.headers["webhook-id"], time.time())
        json.loads(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _environment() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "SECRET_KEY": "bench-only",
        "DEBUG": "false",
        "PLIVO_AUTH_TOKEN": "bench",
        "LOG_LEVEL": "WARNING",
    }


def _create_database() -> None:
    admin = psycopg2.connect("dbname=postgres user=postgres host=127.0.0.1")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {DATABASE}")
    admin.close()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=PROJECT, env=_environment(), check=True)


def _setup(receiver_url: str):
    import django

    os.environ.update(_environment())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numbermasking.settings")
    django.setup()
    from django_tasks_db.models import DBTaskResult

    from orders.models import Event, WebhookEndpoint

    Event.objects.all().delete()
    DBTaskResult.objects.all().delete()
    WebhookEndpoint.objects.all().delete()
    WebhookEndpoint.objects.create(url=receiver_url)
    Receiver.arrivals = {}


def _workers(count: int) -> list[subprocess.Popen]:
    # The worker as compose and make run start it (it polls an idle queue once a second).
    command = [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay"]
    return [subprocess.Popen(command, cwd=PROJECT, env=_environment()) for _ in range(count)]


def _raise(count: int, every: float = 0.0) -> dict[str, float]:
    from orders.events import emit
    from orders.models import EventType

    occurred = {}
    for n in range(count):
        event = emit(EventType.CALL_MISSED, {"reference": f"B{n}", "reason": "busy"})
        occurred[event.id] = event.occurred_at.timestamp()
        if every:
            time.sleep(every)
    return occurred


def _wait_for(count: int) -> None:
    deadline = time.time() + 600
    while len(Receiver.arrivals) < count and time.time() < deadline:
        time.sleep(0.05)


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
        process.wait()


def latency(receiver_url: str) -> dict[str, float]:
    """One worker, events raised at a steady pace it keeps up with: change-to-receiver time."""
    _setup(receiver_url)
    processes = _workers(1)
    time.sleep(3)
    occurred = _raise(EVENTS, every=0.05)
    _wait_for(EVENTS)
    _stop(processes)
    latencies = sorted((Receiver.arrivals[i] - occurred[i]) * 1000 for i in occurred if i in Receiver.arrivals)
    return {
        "round": "latency, 1 worker, 20 events/s",
        "delivered": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
    }


def throughput(receiver_url: str, workers: int) -> dict[str, float]:
    """A backlog of events drained by ``workers`` workers: deliveries per second."""
    _setup(receiver_url)
    _raise(EVENTS)
    started = time.time()
    processes = _workers(workers)
    _wait_for(EVENTS)
    finished = max(Receiver.arrivals.values())
    _stop(processes)
    return {
        "round": f"throughput, {workers} worker(s)",
        "delivered": len(Receiver.arrivals),
        "events_per_s": round(len(Receiver.arrivals) / (finished - started), 1),
    }


def main() -> None:
    _create_database()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/events"
    results = [latency(url), throughput(url, 1), throughput(url, 2)]
    print(f"# bench.events {datetime.now():%Y-%m-%d %H:%M}, {EVENTS} events")
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
