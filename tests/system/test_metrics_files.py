"""gunicorn.conf.py's start: in PROMETHEUS_MULTIPROC_DIR, only the files of processes that are gone go.

tests/system/test_metrics_gunicorn.py checks the same under a real gunicorn with a
live worker's counts (Postgres); this checks the rule itself, on any database.
"""

import os
import runpy
import subprocess
import sys
from pathlib import Path
from unittest import mock

from tests.support.servers import PROJECT


def gone_pid() -> int:
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(process.stdout)


def start_gunicorn_with(metrics_dir: Path) -> None:
    """Run gunicorn.conf.py's on_starting as gunicorn does, for ``metrics_dir``."""
    with mock.patch.dict(os.environ, {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}):
        config = runpy.run_path(str(PROJECT / "gunicorn.conf.py"))
    config["on_starting"](None)


def test_a_start_removes_every_file_of_a_gone_process_and_keeps_a_live_one_s(tmp_path):
    gone, alive = gone_pid(), os.getpid()
    kinds = ["counter", "histogram", "gauge_livesum", "gauge_all"]
    for kind in kinds:
        (tmp_path / f"{kind}_{gone}.db").write_bytes(b"")
        (tmp_path / f"{kind}_{alive}.db").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not prometheus-client's")
    (tmp_path / "counter.db").write_bytes(b"")  # no pid in its name: not ours to judge

    start_gunicorn_with(tmp_path)

    expected = {f"{kind}_{alive}.db" for kind in kinds} | {"notes.txt", "counter.db"}
    assert {path.name for path in tmp_path.iterdir()} == expected


def test_a_process_it_may_not_signal_counts_as_alive(tmp_path):
    (tmp_path / "counter_4242.db").write_bytes(b"")

    with mock.patch("os.kill", side_effect=PermissionError):
        start_gunicorn_with(tmp_path)

    assert (tmp_path / "counter_4242.db").exists()


def test_a_missing_directory_is_made(tmp_path):
    start_gunicorn_with(tmp_path / "metrics")

    assert (tmp_path / "metrics").is_dir()
