"""``manage.py worker`` for real (Postgres): it starts with the database down, outlives its loss, stops on SIGTERM.

The worker reaches Postgres through a TCP forwarder (tests/support/forwarder.py) on a
port of its own, so the test takes the database away from the worker alone
and gives it back, while the test's own connection raises events as usual.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from orders.events import emit
from orders.models import Delivery, EventType, WebhookEndpoint
from tests.support.concurrency import postgres_only
from tests.support.forwarder import Forwarder
from tests.support.servers import PROJECT, free_port

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]

WAITING = "worker waiting for the database"
PAUSED = "deliveries paused: the database is unavailable"


class Worker:
    """``manage.py worker`` in a subprocess whose DATABASE_URL points at ``port``; its output in ``log``."""

    def __init__(self, port: int, log: Path) -> None:
        db = connection.settings_dict
        password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
        env = {
            **os.environ,
            "ENV_FILE": "",
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": f"postgres://{db['USER']}{password}@127.0.0.1:{port}/{db['NAME']}",
            "EVENTS_DELIVERY_TIMEOUT": "2",
        }
        self.log = log
        self._log = log.open("w")
        self.process = subprocess.Popen(  # our own interpreter and manage.py
            [sys.executable, "manage.py", "worker"], cwd=PROJECT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text()

    def lines(self, text: str) -> int:
        return sum(text in line for line in self.output().splitlines())

    def terminate(self, within: float = 5) -> int:
        """SIGTERM, and the exit status; it must exit ``within`` seconds, or it is killed and the test fails."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=within)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def database_port() -> Iterator[Forwarder]:
    """A port where nothing listens until the test starts the forwarder to Postgres on it."""
    db = connection.settings_dict
    forwarder = Forwarder(free_port(), (db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    yield forwarder
    forwarder.stop()


@pytest.fixture
def worker(database_port, tmp_path) -> Iterator[Worker]:
    worker = Worker(database_port.port, tmp_path / "worker.log")
    yield worker
    if worker.process.poll() is None:
        worker.terminate()


@pytest.fixture
def receiver(httpserver):
    """The platform's endpoint, created before the worker may look for one; what it received."""
    httpserver.expect_request("/events").respond_with_data("ok")
    WebhookEndpoint.objects.create(url=httpserver.url_for("/events"))
    return lambda: [request.get_json()["id"] for request, _response in httpserver.log]


def raise_event(reference: str) -> str:
    return emit(EventType.CALL_MISSED, {"reference": reference, "reason": "busy"}).id


def recorded_as_delivered(event_id: str) -> bool:
    """The worker has written down that the receiver took it (it is not only sent)."""
    return Delivery.objects.filter(event__id=event_id, status=Delivery.Status.DELIVERED).exists()


def test_the_worker_waits_for_the_database_saying_so_once_per_try_then_delivers_and_stops_on_sigterm(
    receiver, database_port, worker
):
    time.sleep(3.5)  # tries at 0, 1 and 3 s

    assert worker.process.poll() is None, worker.output()
    tries = worker.lines(WAITING)
    assert tries >= 2, worker.output()
    assert len(worker.output().splitlines()) == tries, "more than one line per try"

    database_port.start()
    event = raise_event("R1")
    wait_until(lambda: recorded_as_delivered(event), timeout=20, what="the delivery")
    assert receiver() == [event]

    assert worker.terminate() == 0
    assert "Traceback" not in worker.output()


def test_the_worker_outlives_the_database_going_away_and_delivers_again_when_it_is_back(
    receiver, database_port, worker
):
    database_port.start()
    first = raise_event("R1")
    wait_until(lambda: recorded_as_delivered(first), timeout=20, what="the first delivery")
    assert receiver() == [first]

    database_port.stop()
    wait_until(lambda: worker.lines(PAUSED) >= 1, timeout=15, what="the worker to say deliveries paused")
    second = raise_event("R2")  # raised while the worker cannot see it
    time.sleep(1)
    assert worker.process.poll() is None, worker.output()
    assert receiver() == [first]

    database_port.start()
    wait_until(lambda: recorded_as_delivered(second), timeout=20, what="the delivery after the database came back")
    assert receiver() == [first, second]

    assert worker.terminate() == 0
    assert "Traceback" not in worker.output()


def test_a_sigterm_while_the_database_is_away_stops_the_worker_at_once(receiver, database_port, worker):
    database_port.start()
    wait_until(lambda: "worker started" in worker.output(), timeout=20, what="the worker to start")
    database_port.stop()
    # The tasks loop waits longer after each failed try (1 s, 2 s, 5 s, ...): let it reach a long wait.
    wait_until(lambda: "trying again in 5 s" in worker.output(), timeout=20, what="a long wait for the database")

    assert worker.terminate(within=2) == 0
