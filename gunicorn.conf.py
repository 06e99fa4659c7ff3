"""gunicorn settings, read from the environment like every other setting.

gunicorn loads this file from the working directory on its own, so the
Dockerfile, docker-compose.yml, the benchmark and the scale-out test all start
the same server with ``gunicorn numbermasking.wsgi``.
"""

import contextlib
import multiprocessing
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 - inside a container

# A webhook is a few milliseconds of Python around two short queries, so a
# process per core plus one to cover the time spent waiting on Postgres keeps
# both cores busy; more processes only add context switches (bench/PROFILE.md).
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() + 1)
# (An empty variable, as compose passes an unset one, means the default.)
# Threads > 1 switches gunicorn to the gthread worker (keep-alive, slow clients);
# one thread per process is the plain sync worker.
threads = int(os.environ.get("GUNICORN_THREADS") or 1)

# Plivo gives up on an answer URL after about 15 s; a request still running
# after 30 s is stuck, and recycling the worker is the safe answer.
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 30)
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT") or 30)
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE") or 5)
# Off by default: a recycled worker boots Django again while requests queue
# behind it (the benchmark's p99 showed it). Set it if a leak ever shows up.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS") or 0)
max_requests_jitter = max_requests // 10

# Logs go to stdout/stderr for the container runtime. The access log is off by
# default and, when on, shows the path without the query string: the seed
# tutorial's GET answer URL carries phone numbers in it.
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "false").lower() in ("1", "true", "yes") else None
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Metrics under several workers (docs/operating.md, "Metrics"): prometheus-client keeps
# each process's counters in a file in PROMETHEUS_MULTIPROC_DIR and a scrape
# sums them all. A previous run's files would be summed in too, so a start
# removes the files of processes that are gone; a process still running (the
# event worker on the same host, sharing the directory) keeps its own, or its
# counts would drop to 0 on every web restart. An exited worker's counts stay
# until then (they happened).
metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def _pid_of(name: str) -> int | None:
    """The process a prometheus-client file belongs to (``counter_123.db``, ``gauge_livesum_123.db``), or None."""
    stem, extension = os.path.splitext(name)
    pid = stem.rpartition("_")[2]
    return int(pid) if extension == ".db" and "_" in stem and pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's process
    return True


def on_starting(server) -> None:
    if metrics_dir:
        os.makedirs(metrics_dir, exist_ok=True)
        # Only prometheus-client's own files, whatever else the directory holds.
        for name in os.listdir(metrics_dir):
            pid = _pid_of(name)
            if pid is not None and not _alive(pid):
                with contextlib.suppress(FileNotFoundError):  # another server removed it first
                    os.remove(os.path.join(metrics_dir, name))


def child_exit(server, worker) -> None:
    if metrics_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, metrics_dir)
