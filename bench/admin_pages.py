"""`make bench-admin`: the admin pages staff use most, at 300,000 and 1,000,000 orders.

1. Recreates the benchmark database (BENCH_DATABASE_URL, as `make bench`) and
   fills it with bench/fill.py's orders: 300,000 (30,000 live), then 1,000,000.
2. Logs a superuser in through Django's test client (full middleware stack,
   https as in production) and requests each page in alternating rounds, so
   noise from other work on the machine hits every page alike.
3. Stores the medians under a label (``--label``, default "after") in
   bench/admin_pages.json and re-renders bench/RESULTS.md, whose "Admin pages"
   section compares the labels.

The figure that matters is each page ÷ the admin index: the cheapest page that
still pays for sessions, auth and the admin's templates. To measure older code,
run this file from a checkout of it with ``--json`` pointing here.
"""

import argparse
import json
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

# isort: off
from bench.environment import ROOT  # first: it sets Django up for the imports below

# isort: on
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from bench import fill
from bench.run import recreate_database, write_report

PAGES = {
    "admin index": "/admin/",
    "agent autocomplete": "/admin/autocomplete/?app_label=orders&model_name=order&field_name=agent&term=a",
    "agent list": "/admin/orders/agent/",
    "proxy-number list": "/admin/orders/proxynumber/",
    "order list": "/admin/orders/order/",
    # Not in the list; shown for what a click on a column or filter costs.
    "agent list by live lines": "/admin/orders/agent/?o=-4",
    "order list, live lines only": "/admin/orders/order/?line=live",
}
SIZES = {"300k": 300_000, "1M": 1_000_000}
RESULTS_JSON = ROOT / "bench" / "admin_pages.json"
# The suite's storage: the benchmark does not run collectstatic, and the
# manifest lookup it would add is the same on every page.
STATIC_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def log(message: str) -> None:
    print(f"[admin bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def logged_in_client() -> Client:
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "", None)
    client = Client(HTTP_HOST="localhost", HTTP_X_FORWARDED_PROTO="https")
    client.force_login(user)
    return client


def measure(client: Client, rounds: int) -> dict[str, dict]:
    """Median and fastest time of each page over ``rounds`` rounds; its SQL statements and their time."""
    figures: dict[str, dict] = {}
    for name, path in PAGES.items():
        response = client.get(path, secure=True)
        assert response.status_code == 200, (name, response.status_code)
        sql_ms = []
        for _ in range(3):  # apart from the timed rounds: capturing queries slows the cursor
            with CaptureQueriesContext(connection) as queries:
                client.get(path, secure=True)
            sql_ms.append(sum(float(query["time"]) for query in queries) * 1000)
        figures[name] = {"queries": len(queries), "sql_ms": statistics.median(sql_ms), "times_ms": []}
    for _ in range(rounds):
        for name, path in PAGES.items():
            started = time.perf_counter()
            client.get(path, secure=True)
            figures[name]["times_ms"].append((time.perf_counter() - started) * 1000)
    for page in figures.values():
        page["median_ms"] = statistics.median(page["times_ms"])
        page["min_ms"] = min(page["times_ms"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after", help="name of this run in the results, e.g. before or after")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", type=Path, default=RESULTS_JSON, help="results file to add this run to")
    args = parser.parse_args()

    started = time.monotonic()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    run = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit.stdout.strip(),
        "rounds": args.rounds,
        "sizes": {},
    }
    log("recreating the benchmark database")
    recreate_database()
    call_command("migrate", verbosity=0)
    fill.fill_pool()
    filled = 0
    with override_settings(STORAGES=STATIC_STORAGES):
        for size, orders in SIZES.items():
            log(f"filling to {orders:,} orders")
            fill.fill_orders(filled + 1, orders)
            filled = orders
            fill.analyze()
            log(f"timing {len(PAGES)} pages, {args.rounds} rounds")
            pages = measure(logged_in_client(), args.rounds)
            run["sizes"][size] = {"orders": orders, "live": orders // 10, "pages": pages}
            for name, page in pages.items():
                log(f"  {name}: {page['median_ms']:.1f} ms, {page['queries']} queries")
    run["elapsed_seconds"] = time.monotonic() - started

    results = json.loads(args.json.read_text()) if args.json.exists() else {}
    results[args.label] = run
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {args.json}")
    if args.json == RESULTS_JSON:
        write_report(json.loads((ROOT / "bench" / "results.json").read_text()))


if __name__ == "__main__":
    main()
