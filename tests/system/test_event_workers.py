"""``manage.py worker`` processes on Postgres: they share the deliveries (none twice, none lost), wake on
new events at once, and a slow endpoint holds back no other."""

import signal
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from werkzeug import Request, Response

from orders.events import emit
from orders.events.delivery import RECORD_EVERY
from orders.models import EventType, WebhookEndpoint
from tests.support.receivers import KeepAliveReceiver
from tests.support.servers import start_worker

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent workers need a database server"),
    # Committed data: the workers read it through their own connections.
    pytest.mark.django_db(transaction=True),
]

EVENTS = 500


class CountingReceiver:
    def __init__(self, httpserver) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        httpserver.expect_request("/events").respond_with_handler(self.receive)

    def receive(self, request: Request) -> Response:
        with self.lock:
            self.counts[request.headers["webhook-id"]] += 1
        # A receiver that takes a few milliseconds, as real ones do: the run lasts long enough for a kill mid-run.
        time.sleep(0.005)
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

    def start(count: int, **options) -> list[subprocess.Popen]:
        started.extend(start_worker(tmp_path / f"worker-{len(started)}.log", **options) for _ in range(count))
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
    # At least once: only what the killed worker had sent and not yet recorded may come twice.
    assert sum(receiver.counts.values()) - EVENTS <= RECORD_EVERY


def test_every_event_arrives_after_a_worker_is_stopped_and_another_takes_over(receiver, workers):
    first, _second = workers(2)
    ids = raise_events(EVENTS)
    receiver.wait_for(EVENTS // 4, timeout=60)

    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=15) == 0
    receiver.wait_for(EVENTS, timeout=120)

    assert set(receiver.counts) == ids


def test_a_new_event_wakes_the_worker_at_once(httpserver, workers):
    arrived: dict[str, float] = {}
    httpserver.expect_request("/events").respond_with_handler(
        lambda request: arrived.setdefault(request.headers["webhook-id"], time.monotonic()) and Response("ok")
    )
    WebhookEndpoint.objects.create(url=httpserver.url_for("/events"))
    workers(1)
    raise_events(1)  # the worker is up once this one arrives
    deadline = time.monotonic() + 30
    while not arrived and time.monotonic() < deadline:
        time.sleep(0.05)

    latencies = []
    for _ in range(10):
        raised = time.monotonic()
        (event_id,) = raise_events(1)
        while event_id not in arrived and time.monotonic() < raised + 5:
            time.sleep(0.005)
        latencies.append(arrived[event_id] - raised)
        time.sleep(0.1)

    # Far below the one-second poll it would take without a NOTIFY.
    assert sorted(latencies)[len(latencies) // 2] < 0.3, latencies


def test_a_trickling_endpoint_holds_back_no_other_with_one_worker(workers):
    stop = threading.Event()

    class Trickler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                if stop.wait(2):
                    return
                self.wfile.write(b".")
                self.wfile.flush()

        def log_message(self, *args) -> None:
            pass

    trickler = ThreadingHTTPServer(("127.0.0.1", 0), Trickler)
    trickler.daemon_threads = True
    threading.Thread(target=trickler.serve_forever, daemon=True).start()
    with KeepAliveReceiver() as healthy:
        WebhookEndpoint.objects.create(url=f"http://127.0.0.1:{trickler.server_address[1]}/events")
        WebhookEndpoint.objects.create(url=healthy.url)
        workers(1, timeout=15)
        try:
            raised = {}
            for n in range(5):
                raised[emit(EventType.CALL_MISSED, {"reference": f"T{n}", "reason": "busy"}).id] = time.monotonic()
                time.sleep(0.5)
            deadline = time.monotonic() + 10
            while len(healthy.requests) < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            arrivals = {body["id"]: at for _port, _headers, body, at in healthy.timed_requests}
        finally:
            stop.set()
            trickler.shutdown()
            trickler.server_close()

    assert set(arrivals) == set(raised)
    assert max(arrivals[event_id] - raised[event_id] for event_id in raised) < 2
