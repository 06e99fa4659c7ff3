"""The admin dashboard's queries at a million orders and a million call records (voice/ops/dashboard.py).

`make bench` calls ``measure`` after its webhook runs, on its 1M orders, so the
call records added here never weigh on the webhook figures. On its own, at a
smaller scale first:

    .venv/bin/python -m bench.dashboard --orders 100000 --calls 100000

recreates the benchmark database, fills it and prints the figures.
"""

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

# isort: off
from bench.environment import DATABASE_URL  # noqa: F401 - first: it sets Django up for the imports below

# isort: on
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from bench import fill
from orders.pool import live_lines_per_number, pool_advice
from voice.ops import dashboard as dash

DAYS = 30
# The model's own default, as the call records the webhooks write have it.
INITIATED_BY = dash.CallRecord._meta.get_field("initiated_by").default
ROUNDS = 7


def fill_calls(calls: int, texts: int) -> None:
    """``calls`` call records and ``texts`` texts spread evenly over the last DAYS days, a mix of every result."""
    # r = i % 100: 60 talked, 15 missed (no answer, busy), 5 talked after a PIN, 3 left at the PIN prompt,
    # 2 refused a PIN, 13 unknown callers, 2 hung up before the dial status came.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO voice_callrecord (call_uuid, order_id, caller_role, initiated_by, from_number, proxy_number,
                dialled_number, outcome, asked_pin, dial_status, hangup_cause, duration, bill_duration,
                started_at, ended_at)
            SELECT 'bench-call-' || i, NULL,
                   CASE WHEN r < 85 THEN 'customer' ELSE 'unknown' END, '{INITIATED_BY}',
                   '+1415' || (3000000 + i %% 20000), '+1628' || (2000000 + i %% 200), '',
                   CASE WHEN r < 80 OR r >= 98 THEN 'connected' WHEN r < 83 THEN 'pin_prompted'
                        WHEN r < 85 THEN 'rejected' ELSE 'unknown' END,
                   r >= 75 AND r < 85,
                   CASE WHEN r < 60 OR (r >= 75 AND r < 80) THEN 'completed' WHEN r < 70 THEN 'no-answer'
                        WHEN r < 75 THEN 'busy' ELSE '' END,
                   'NORMAL_CLEARING', 60, 60, started, started + interval '1 minute'
            FROM (SELECT i, i %% 100 AS r, now() - interval '{DAYS} days' * i / %s AS started
                  FROM generate_series(1, %s) AS i) AS s
            """,  # noqa: S608 - constants only
            [calls, calls],
        )
        cursor.execute(
            f"""
            INSERT INTO voice_messagerecord (message_uuid, order_id, sender_role, from_number, proxy_number,
                relayed_to, outcome, received_at)
            SELECT 'bench-text-' || i, NULL, 'customer', '+1415' || (3000000 + i %% 20000),
                   '+1628' || (2000000 + i %% 200), '',
                   CASE WHEN i %% 10 < 8 THEN 'relayed' ELSE 'unknown' END,
                   now() - interval '{DAYS} days' * i / %s
            FROM generate_series(1, %s) AS i
            """,  # noqa: S608 - constants only
            [texts, texts],
        )
        # As fill.analyze: a production table has its visibility map and statistics.
        cursor.execute("VACUUM ANALYZE voice_callrecord")
        cursor.execute("VACUUM ANALYZE voice_messagerecord")


def _median_ms(run: Callable[[], object]) -> float:
    run()  # warm: the first run pays for the plan cache and cold pages
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _explain(start: datetime, end: datetime) -> str:
    sql, params = dash.calls_per_hour_query(start, end).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def measure(calls: int = 1_000_000, texts: int = 200_000) -> dict:
    """Fill the call records, then time each dashboard query, the whole dashboard and its panel."""
    started = time.monotonic()
    fill_calls(calls, texts)
    fill_seconds = time.monotonic() - started
    now = timezone.now()
    hours = dash.hour_buckets(now, dash.WEEK_HOURS)
    end = hours[-1] + timedelta(hours=1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_order")
        orders = cursor.fetchone()[0]
    week_calls = dash.CallRecord.objects.filter(started_at__gte=hours[0], started_at__lt=end).count()
    queries = {
        "calls per hour, 7 days (one GROUP BY for both windows)": lambda: dash.calls_per_hour(hours[0], end),
        "texts relayed, both windows": lambda: dash.texts_relayed(hours[0], hours[-24], end),
        "pool advice (2N − 1 per country)": lambda: pool_advice(now),
        "live lines per proxy number": lambda: live_lines_per_number(now),
    }
    figures = {name: _median_ms(run) for name, run in queries.items()}
    figures["the whole dashboard() (5 queries)"] = _median_ms(lambda: dash.dashboard(now))

    from bench.admin_pages import STATIC_STORAGES  # here: admin_pages imports bench.run, which imports this

    client = Client(HTTP_HOST="localhost", HTTP_X_FORWARDED_PROTO="https")
    client.force_login(
        User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "", None)
    )
    with override_settings(STORAGES=STATIC_STORAGES):
        figures["the panel, queries and charts (/admin/dashboard/?part=panel)"] = _median_ms(
            lambda: client.get("/admin/dashboard/?part=panel", secure=True)
        )
        figures["the admin home page, which fetches the panel after it"] = _median_ms(
            lambda: client.get("/admin/", secure=True)
        )
        with CaptureQueriesContext(connection) as captured:
            client.get("/admin/dashboard/?part=panel", secure=True)
    return {
        "orders": orders,
        "calls": calls,
        "texts": texts,
        "days": DAYS,
        "week_calls": week_calls,
        "fill_seconds": fill_seconds,
        "rounds": ROUNDS,
        "ms": figures,
        "panel_queries": len(captured),
        "plan": _explain(hours[0], end),
    }


def render(figures: dict) -> list[str]:
    """The "Dashboard" section of bench/RESULTS.md."""
    return [
        "## Dashboard",
        "",
        f"The admin dashboard's queries (voice/ops/dashboard.py) at {figures['orders']:,} orders and "
        f"{figures['calls']:,} call records ({figures['texts']:,} texts) spread over {figures['days']} days, "
        f"{figures['week_calls']:,} of the calls in the 7-day window; filled after the webhook runs "
        f"({figures['fill_seconds']:.0f} s). Median of {figures['rounds']} runs after a warm-up, in the "
        "benchmark process.",
        "",
        "| query | ms |",
        "|---|---|",
        *[f"| {name} | {ms:,.1f} |" for name, ms in figures["ms"].items()],
        "",
        f"The panel is {figures['panel_queries']} SQL statements with the session and user. The calls are "
        "read through the index on started_at:",
        "",
        "```",
        figures["plan"],
        "```",
        "",
    ]


def main() -> None:
    from django.core.management import call_command

    from bench.run import recreate_database

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--texts", type=int, default=20_000)
    arguments = parser.parse_args()
    recreate_database()
    call_command("migrate", verbosity=0)
    fill.fill_pool()
    fill.fill_orders(1, arguments.orders)
    fill.analyze()
    figures = measure(arguments.calls, arguments.texts)
    print("\n".join(render(figures)))
    print(json.dumps({"date": datetime.now(UTC).isoformat(), **figures["ms"]}, indent=2))


if __name__ == "__main__":
    main()
