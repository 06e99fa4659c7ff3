"""Several ``manage.py db_worker`` processes on Postgres share the deliveries: none twice, none lost."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from werkzeug import Request, Response

from orders.events import emit
from orders.models import EventType, WebhookEndpoint

from .servers import PROJECT

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent workers need a database server"),
    # Committed data: the workers read it through their own connections.
    pytest.mark.django_db(transaction=True),
]

EVENTS = 500


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "EVENTS_DELIVERY_TIMEOUT": "2",
        "EVENTS_SWEEP_INTERVAL": "1",
        "EVENTS_ORPHAN_AFTER": "3",
    }
    command = [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.05", "--no-reload"]
    return subprocess.Popen(command, cwd=PROJECT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


class CountingReceiver:
    def __init__(self, httpserver) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        httpserver.expect_request("/events").respond_with_handler(self.receive)

    def receive(self, request: Request) -> Response:
        with self.lock:
            self.counts[request.headers["webhook-id"]] += 1
        return Response("ok")

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.counts) < count and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.fixture
def receiver(httpserver) -> CountingReceiver:
    receiver = CountingReceiver(httpserver)
    WebhookEndpoint.objects.create(url=httpserver.url_for("/events"))
    return receiver


@pytest.fixture
def workers(tmp_path):
    started: list[subprocess.Popen] = []

    def start(count: int) -> list[subprocess.Popen]:
        started.extend(start_worker(tmp_path / f"worker-{len(started)}.log") for _ in range(count))
        return started

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def raise_events(count: int) -> set[str]:
    return {emit(EventType.CALL_MISSED, {"reference": f"R{n}", "reason": "busy"}).id for n in range(count)}


def test_two_workers_deliver_every_event_exactly_once(receiver, workers):
    workers(2)
    ids = raise_events(EVENTS)

    receiver.wait_for(EVENTS, timeout=120)

    assert set(receiver.counts) == ids
    assert max(receiver.counts.values()) == 1


def test_every_event_arrives_after_a_worker_is_killed_mid_run(receiver, workers):
    first, _second = workers(2)
    ids = raise_events(EVENTS)
    receiver.wait_for(EVENTS // 4, timeout=60)
    assert len(receiver.counts) < EVENTS, "the run ended before the kill; nothing was tested"

    first.send_signal(signal.SIGKILL)
    first.wait()
    receiver.wait_for(EVENTS, timeout=120)

    assert set(receiver.counts) == ids
    # At least once: only what the killed worker had in hand may come twice.
    assert sum(receiver.counts.values()) - EVENTS <= 1
