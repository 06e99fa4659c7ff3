"""/metrics under gunicorn with three workers: the counts of every worker, whichever answers the scrape."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from .conftest import CUSTOMER, call_params
from .servers import GunicornServer
from .test_scale_out import _database_url

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
            "DATABASE_URL": _database_url(),
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


def stale_counts(metrics_dir: Path) -> None:
    """What a previous run left behind: a file of 1,000 answers by a process long gone."""
    metrics_dir.mkdir()
    stale = MmapedDict(str(metrics_dir / "counter_999999.db"))
    labels = (["view", "status"], ["answer", "200"])
    key = mmap_key("numbermasking_webhook_requests", "numbermasking_webhook_requests_total", *labels, "stale")
    stale.write_value(key, 1000.0, 0.0)
    stale.close()


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
    stale_counts(metrics_dir)
    server = Server(tmp_path / "gunicorn.log", metrics_dir)
    try:
        server.wait_until_up()
        assert not (metrics_dir / "counter_999999.db").exists(), "the previous run's counts were summed in"

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
