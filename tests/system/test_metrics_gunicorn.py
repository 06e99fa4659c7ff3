"""/metrics under gunicorn with three workers: the counts of every worker, whichever answers the scrape."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import PROJECT, GunicornServer, database_url
from tests.support.webhooks import call_params
from tests.support.world import CUSTOMER

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="three workers need a database server to share"),
    # Committed data: the workers read it through their own connections.
    pytest.mark.django_db(transaction=True),
]

TOKEN = "scrape-token-for-gunicorn"
CALLS = 15
CLIENTS = 5


class Server(GunicornServer):
    def __init__(self, log: Path, metrics_dir: Path) -> None:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "METRICS_TOKEN": TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        super().__init__(environment, log, args=["-c", "gunicorn.conf.py", "--workers", "3"])
        self.metrics_dir = metrics_dir

    def ready(self) -> bool:
        return super().ready() and self.request("/healthz")[0] == 200

    def scrape(self) -> dict[tuple[str, frozenset], float]:
        status, body = self.request("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, body
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
        }

    def worker_pids(self) -> set[int]:
        """The workers that have written counters, from their files' names (counter_<pid>.db)."""
        return {int(path.stem.split("_")[-1]) for path in self.metrics_dir.glob("counter_*.db")}

    def answers_counted_by(self, pid: int) -> float:
        """The signed answers one worker counted, read from its own file."""
        families = MultiProcessCollector.merge([str(self.metrics_dir / f"counter_{pid}.db")])
        return sum(
            sample.value
            for family in families
            for sample in family.samples
            if sample.name == "numbermasking_webhook_requests_total"
            and sample.labels == {"view": "answer", "status": "200"}
        )


def gone_pid() -> int:
    """The pid of a process that has exited."""
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(process.stdout)


def stale_counts(metrics_dir: Path) -> Path:
    """What a previous run left behind: a file of 1,000 answers by a process long gone."""
    metrics_dir.mkdir(exist_ok=True)
    path = metrics_dir / f"counter_{gone_pid()}.db"
    stale = MmapedDict(str(path))
    labels = (["view", "status"], ["answer", "200"])
    key = mmap_key("numbermasking_webhook_requests", "numbermasking_webhook_requests_total", *labels, "stale")
    stale.write_value(key, 1000.0, 0.0)
    stale.close()
    return path


# A worker that delivered 7 events, counted as the real one counts them, and keeps running until told.
DELIVERING_WORKER = """
import sys
from numbermasking import metrics
metrics.EVENTS_DELIVERED.inc(7)
metrics.DELIVERY_ATTEMPTS.labels(outcome="delivered").inc(7)
print("counted", flush=True)
sys.stdin.read()
"""


@contextmanager
def running_worker(metrics_dir: Path) -> Iterator[subprocess.Popen]:
    """An event worker of this host, alive, whose delivery counters are in ``metrics_dir``."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    worker = subprocess.Popen(  # our own interpreter and script
        [sys.executable, "-c", DELIVERING_WORKER], cwd=PROJECT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert worker.stdout.readline() == b"counted\n"
        yield worker
    finally:
        worker.stdin.close()
        worker.wait(timeout=10)


def calls_from_several_clients(server: Server) -> list[tuple[int, int]]:
    """Each of CLIENTS threads places CALLS // CLIENTS calls (answer, then hangup) at once; every status."""
    statuses: list[tuple[int, int]] = []
    barrier = threading.Barrier(CLIENTS)

    def place_calls() -> None:
        barrier.wait()
        for _ in range(CALLS // CLIENTS):
            params = call_params(CUSTOMER.lstrip("+"))
            answered, _ = server.signed_post("/voice/answer/", params)
            hung_up, _ = server.signed_post("/voice/hangup/", {**params, "CallStatus": "completed", "Duration": "5"})
            statuses.append((answered, hung_up))

    threads = [threading.Thread(target=place_calls) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_counters_add_up_over_three_workers_whichever_answers_the_scrape(tmp_path, live_order):
    metrics_dir = tmp_path / "metrics"
    stale = stale_counts(metrics_dir)
    server = Server(tmp_path / "gunicorn.log", metrics_dir)
    try:
        server.wait_until_up()
        assert not stale.exists(), "the previous run's counts were summed in"

        statuses = calls_from_several_clients(server)
        for _ in range(3):
            assert server.request("/voice/hangup/", {"CallUUID": "x"})[0] == 403  # unsigned

        assert statuses == [(200, 200)] * CALLS
        # Several workers answered (the sum below is not one worker's count).
        assert len([pid for pid in server.worker_pids() if server.answers_counted_by(pid)]) >= 2
        answered = ("numbermasking_webhook_requests_total", frozenset({"view": "answer", "status": "200"}.items()))
        refused = ("numbermasking_webhook_requests_total", frozenset({"view": "hangup", "status": "403"}.items()))
        ended = ("numbermasking_calls_total", frozenset({"result": "ended_before_connecting"}.items()))
        timed = ("numbermasking_webhook_duration_seconds_count", frozenset({"view": "answer"}.items()))
        lines = ("numbermasking_live_lines", frozenset({"proxy_number": "+14155550100", "country": "US"}.items()))
        for _ in range(6):  # scrapes land on whichever worker accepts them
            samples = server.scrape()
            assert (samples[answered], samples[refused], samples[ended], samples[timed]) == (CALLS, 3, CALLS, CALLS)
            assert samples[lines] == 1

        # A worker that dies keeps its counts: what it counted happened.
        victim = next(pid for pid in server.worker_pids() if server.answers_counted_by(pid))
        os.kill(victim, signal.SIGKILL)
        time.sleep(1)  # gunicorn notices, runs child_exit and starts another worker
        for _ in range(3):
            assert server.scrape()[answered] == CALLS
        assert "Traceback" not in server.log.read_text()
    finally:
        server.stop()


def test_a_gunicorn_start_keeps_a_running_worker_s_counts_and_drops_those_of_gone_processes(tmp_path, live_order):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    stale = stale_counts(metrics_dir)
    with running_worker(metrics_dir) as worker:
        live = metrics_dir / f"counter_{worker.pid}.db"
        assert live.exists()

        previous_run: set[int] = set()
        for _start in range(2):
            server = Server(tmp_path / "gunicorn.log", metrics_dir)
            try:
                server.wait_until_up()
                assert live.exists(), "the running worker's counts were removed"
                assert not stale.exists(), "a gone process's counts were kept"
                assert not previous_run & server.worker_pids(), "the previous run's web workers' counts were kept"
                samples = server.scrape()
                previous_run = server.worker_pids() - {worker.pid}
            finally:
                server.stop()
            assert previous_run, "the web workers wrote no counter files: the second start checks nothing"

            assert samples[("numbermasking_events_delivered_total", frozenset())] == 7
            delivered = ("numbermasking_event_delivery_attempts_total", frozenset({"outcome": "delivered"}.items()))
            assert samples[delivered] == 7
            answered = ("numbermasking_webhook_requests_total", frozenset({"view": "answer", "status": "200"}.items()))
            assert answered not in samples
