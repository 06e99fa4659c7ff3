"""Time the lines migrations (orders 0014–0016) forward and back: `python -m bench.migrate_lines [ORDERS]`.

Recreates the benchmark database (BENCH_DATABASE_URL, as `make bench`),
migrates it to the schema before lines, fills ORDERS orders (default
1,000,000) the way bench/fill.py did then (every tenth live, all with a
proxy number, PIN, expiry and call counters), and times `migrate` forward to
the latest schema and back again. The data migration is one statement each
way, so the time is the database's: the INSERT … SELECT, the indexes, the
dropped columns.
"""

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# isort: off
from bench.environment import DATABASE_URL  # first: it sets Django up for the imports below

# isort: on
from django.core.management import call_command
from django.db import connection

from bench import fill
from bench.load import log
from bench.run import recreate_database

RESULTS_JSON = Path(__file__).resolve().parent / "migrate_lines.json"
BEFORE = [("orders", "0013_admin_wording"), ("voice", "0010_no_bench_db_defaults")]


def fill_old_orders(count: int) -> None:
    """Orders in the schema before lines: the line's columns on the order row."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO orders_order (reference, customer_name, customer_phone, agent_id, status, created_at,
                                      updated_at, proxy_number_id, pin, masking_expires_at, customer_calls,
                                      agent_calls)
            SELECT 'B' || lpad(upper(to_hex(i)), 7, '0'), 'Customer ' || c, {fill._CUSTOMER_PHONE},
                   (SELECT min(id) FROM orders_agent) + abs(hashint8(i + 3333333)) %% {fill.AGENTS},
                   CASE WHEN i %% 10 = 0 THEN 'assigned' ELSE 'delivered' END, now(), now(),
                   (SELECT min(id) FROM orders_proxynumber) + abs(hashint8(i + 7777777)) %% {fill.PROXY_NUMBERS},
                   lpad(((i * 7) %% 10000)::text, 4, '0'),
                   CASE WHEN i %% 10 = 0 THEN now() + interval '12 hours' ELSE now() - interval '1 day' END, 0, 0
            FROM (SELECT i, abs(hashint8(i)) %% {fill.CUSTOMERS} AS c FROM generate_series(1, %s) AS i) AS s
            """,
            [count],
        )


def migrate(*targets: tuple[str, str]) -> float:
    started = time.monotonic()
    if targets:
        for app, name in targets:
            call_command("migrate", app, name, verbosity=0)
    else:
        call_command("migrate", verbosity=0)
    return time.monotonic() - started


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    log(f"recreating {DATABASE_URL.rsplit('/', 1)[-1]} at the schema before lines")
    recreate_database()
    migrate(*BEFORE)
    fill.fill_pool()
    log(f"filling {count:,} orders")
    fill_old_orders(count)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE orders_order")
    forward = migrate()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_line")
        lines = cursor.fetchone()[0]
    # Back: voice first (its line columns point at the line table), then orders.
    back = migrate(("voice", BEFORE[1][1]), ("orders", BEFORE[0][1]))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_order WHERE proxy_number_id IS NOT NULL")
        restored = cursor.fetchone()[0]
    assert lines == restored == count, (lines, restored, count)
    print(f"lines migration on {count:,} orders: forward {forward:.1f} s ({lines:,} lines), back {back:.1f} s")
    run = {
        "date": f"{datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC",
        "orders": count,
        "lines": lines,
        "forward_seconds": round(forward, 2),
        "back_seconds": round(back, 2),
    }
    RESULTS_JSON.write_text(json.dumps(run, indent=2) + "\n")
    from bench.report import rewrite  # RESULTS.md again, with this section

    rewrite()


if __name__ == "__main__":
    main()
