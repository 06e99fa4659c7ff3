"""`make bench`: the answer webhook at 1,000 and 1,000,000 orders, against its baselines.

1. Recreates a dedicated Postgres database (BENCH_DATABASE_URL, default
   mask_bench on the local server) and fills it with SQL (bench/fill.py).
2. Starts gunicorn on loopback with the production settings plus the two
   baseline views (bench/settings.py), signature checks on.
3. Drives the webhook, the floor and the ceiling with wrk, in alternating
   rounds so machine noise hits all three alike, at 8 and 32 connections
   (bench/load.py). Every request is pre-signed and carries its own CallUUID.
4. Measures in-process: SQL queries per answer by caller kind, one request at
   a time per target, the routing query's plan, assign_agent with 100,000
   live orders (bench/inprocess.py).
5. Prints and writes bench/RESULTS.md (bench/report.py).
"""

import json
import os
import runpy
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

# isort: off
from bench.environment import DATABASE_URL, MIX, ROOT  # first: it sets Django up for the imports below

# isort: on
from django.core.management import call_command

from bench import dashboard, fill, inprocess
from bench.load import BODIES, DURATION, ROUNDS, ensure_wrk, log, measure


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
    results["in_process_1k"] = inprocess.in_process_costs()

    log("filling to 1,000,000 orders")
    fill_started = time.monotonic()
    fill.fill_orders(1001, 1_000_000)
    fill.analyze()
    results["fill_seconds"] = time.monotonic() - fill_started
    log(f"filled in {results['fill_seconds']:.0f} s")
    results["1M"] = measure(wrk, "1M", workdir)

    results["queries"] = inprocess.query_counts()
    results["in_process_1M"] = inprocess.in_process_costs()
    results["explain"] = inprocess.explain_routing()
    log("timing assign_agent")
    results["assign_agent"] = inprocess.time_assign_agent()
    log("filling 1,000,000 call records and timing the dashboard's queries")
    results["dashboard"] = dashboard.measure()
    results["machine"] = inprocess.machine()
    results["load_after"] = os.getloadavg()
    results["gunicorn"] = {"workers": _gunicorn_setting("workers"), "threads": _gunicorn_setting("threads")}
    results["elapsed_seconds"] = time.monotonic() - started
    shutil.rmtree(workdir, ignore_errors=True)

    # The raw figures first, so a report bug never costs a ten-minute run.
    results["parameters"] = {"duration": DURATION, "rounds": ROUNDS, "bodies": BODIES, "mix": MIX}
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2, default=str))
    write_report(results)


def write_report(results: dict) -> None:
    from bench.report import write

    print(write(results, duration=DURATION, rounds=ROUNDS, bodies=BODIES, mix=MIX))


def _gunicorn_setting(name: str) -> int:
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))[name]


if __name__ == "__main__":
    main()
