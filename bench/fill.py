"""Fill the benchmark database with SQL: proxy numbers, agents, orders and their lines.

Everything is derived from the row number, so a fill is reproducible and
1,000,000 orders take seconds, not the hours the ORM would need:
- 200 proxy numbers (+1 628 200 0000 …), 20,000 agents (+1 415 300 0000 …),
  300,000 customers spread over 20 US area codes (repeat customers: about
  3 orders each at a million);
- every tenth order is live (assigned or picked up, line open for hours);
  the rest are delivered or cancelled with a closed line, as history piles up;
- every thirtieth live order is a second live order of the previous live
  order's customer on the same proxy number, so that customer is asked for a
  PIN; agents carry about five live orders each on random numbers, so some of
  them share a number too (as happens when the pool runs short);
- 30 % of orders have a store (2,000 stores, +1 510 400 0000 …) and so a
  store–agent line beside the customer–agent line, on another number.
"""

from django.db import connection

from orders.models import Line

PROXY_NUMBERS = 200
AGENTS = 20_000
CUSTOMERS = 300_000
STORES = 2_000
AREA_CODES = [212, 213, 305, 312, 404, 415, 469, 503, 512, 602, 617, 646, 702, 713, 718, 773, 805, 858, 917, 972]

# The unknown callers' numbers: a block no customer or agent has.
UNKNOWN_PREFIX = "+1646999"

_CUSTOMER_PHONE = """
'+1' || (ARRAY{areas})[1 + (c %% {n_areas})] || (2000000 + c / {n_areas})
""".format(areas=AREA_CODES, n_areas=len(AREA_CODES))


# The models' own defaults for the columns the fill has no figure for: bench writes rows as the models
# would, and the schema keeps no default of its own for bench's sake.
_CALLS_DEFAULT = int(Line._meta.get_field("customer_calls").default)


def fill_pool() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO orders_proxynumber (number, country, is_active, label)
            SELECT '+1628' || (2000000 + i), 'US', true, 'pool ' || i FROM generate_series(0, %s - 1) AS i
            """,
            [PROXY_NUMBERS],
        )
        cursor.execute(
            """
            INSERT INTO orders_agent (name, phone, is_active)
            SELECT 'Agent ' || i, '+1415' || (3000000 + i), true FROM generate_series(0, %s - 1) AS i
            """,
            [AGENTS],
        )


def fill_orders(first: int, last: int) -> None:
    """Insert orders numbered ``first`` to ``last`` (inclusive), with their lines."""
    # Customer, proxy number and agent are hashes of the row number: spread
    # like random draws, but the same on every run. Every thirtieth live order
    # takes the customer and number of the previous live order (seed i - 10).
    # A hash of the row number gives 30 % of orders (live or not) a store.
    sql = f"""
    WITH s AS (
        SELECT i, i %% 10 = 0 AS live, CASE WHEN i %% 300 = 0 THEN i - 10 ELSE i END AS seed
        FROM generate_series(%s::bigint, %s::bigint) AS i
    ), o AS (
        SELECT i, live,
               'B' || lpad(upper(to_hex(i)), 7, '0') AS reference,
               abs(hashint8(seed)) %% {CUSTOMERS} AS c,
               abs(hashint8(seed + 7777777)) %% {PROXY_NUMBERS} AS p,
               abs(hashint8(i + 3333333)) %% {AGENTS} AS a,
               CASE WHEN abs(hashint8(i + 1234567)) %% 10 < 3
                    THEN abs(hashint8(i + 5555555)) %% {STORES} END AS st,
               abs(hashint8(i + 9999999)) %% {PROXY_NUMBERS} AS sp,
               CASE WHEN i %% 10 = 0 THEN now() + interval '1 hour' * (12 + i %% 12)
                    ELSE now() - interval '1 minute' * (60 + i %% 10000) END AS expires_at
        FROM s
    ), orders AS (
        INSERT INTO orders_order (reference, customer_name, customer_phone, store_name, store_phone, agent_id,
                                  status, created_at, updated_at)
        SELECT reference,
               'Customer ' || c,
               {_CUSTOMER_PHONE},
               CASE WHEN st IS NULL THEN '' ELSE 'Store ' || st END,
               CASE WHEN st IS NULL THEN '' ELSE '+1510' || (4000000 + st) END,
               (SELECT min(id) FROM orders_agent) + a,
               CASE WHEN live THEN (CASE WHEN i %% 20 = 0 THEN 'picked_up' ELSE 'assigned' END)
                    WHEN i %% 10 = 9 THEN 'cancelled' ELSE 'delivered' END,
               now() - interval '1 minute' * (i %% 1440),
               now() - interval '1 minute' * (i %% 60)
        FROM o
        RETURNING id, reference, customer_phone, store_phone, agent_id
    )
    INSERT INTO orders_line (order_id, kind, proxy_number_id, pin, expires_at, customer_phone, store_phone, agent_id,
                             customer_calls, agent_calls, store_calls)
    SELECT orders.id, 'customer_agent', (SELECT min(id) FROM orders_proxynumber) + o.p,
           lpad(((o.i * 7) %% 10000)::text, 4, '0'), o.expires_at, orders.customer_phone, '', orders.agent_id,
           {_CALLS_DEFAULT}, {_CALLS_DEFAULT}, {_CALLS_DEFAULT}
    FROM orders JOIN o ON o.reference = orders.reference
    UNION ALL
    SELECT orders.id, 'store_agent',
           (SELECT min(id) FROM orders_proxynumber) + CASE WHEN o.sp = o.p THEN (o.p + 1) %% {PROXY_NUMBERS}
                                                            ELSE o.sp END,
           lpad(((o.i * 13) %% 10000)::text, 4, '0'), o.expires_at, '', orders.store_phone, orders.agent_id,
           {_CALLS_DEFAULT}, {_CALLS_DEFAULT}, {_CALLS_DEFAULT}
    FROM orders JOIN o ON o.reference = orders.reference
    WHERE o.st IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [first, last])


def analyze() -> None:
    # Bulk loads leave the visibility map and statistics empty; production
    # tables have both, so index-only scans and plans are realistic after this.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE orders_order")
        cursor.execute("VACUUM ANALYZE orders_line")
        cursor.execute("VACUUM ANALYZE orders_agent")
        cursor.execute("VACUUM ANALYZE orders_proxynumber")
        cursor.execute("VACUUM ANALYZE voice_callrecord")


def callers(kind: str, limit: int) -> list[tuple[str, str]]:
    """Sample (caller, proxy number) pairs: known, ambiguous or unknown callers."""
    if kind == "unknown":
        # Half strangers, half past customers whose lines have closed.
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                (SELECT '{UNKNOWN_PREFIX}' || lpad((i * 37 %% 10000)::text, 4, '0'), p.number
                 FROM generate_series(1, %s) AS i
                 JOIN orders_proxynumber p ON p.id = (SELECT min(id) FROM orders_proxynumber) + i %% {PROXY_NUMBERS})
                UNION ALL
                (SELECT o.customer_phone, p.number
                 FROM orders_line o JOIN orders_proxynumber p ON p.id = o.proxy_number_id
                 WHERE o.kind = 'customer_agent' AND o.expires_at < now()
                   AND NOT EXISTS (SELECT 1 FROM orders_line l WHERE l.customer_phone = o.customer_phone
                                   AND l.proxy_number_id = o.proxy_number_id AND l.expires_at > now())
                 ORDER BY random() LIMIT %s)
                """,
                [limit - limit // 2, limit // 2],
            )
            return cursor.fetchall()
    wanted = "= 1" if kind == "known" else "> 1"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT caller, number FROM (
                SELECT o.customer_phone AS caller, o.proxy_number_id AS proxy_id FROM orders_line o
                WHERE o.expires_at > now() AND o.customer_phone <> '' GROUP BY 1, 2 HAVING count(*) {wanted}
                UNION ALL
                SELECT o.store_phone, o.proxy_number_id FROM orders_line o
                WHERE o.expires_at > now() AND o.store_phone <> '' GROUP BY 1, 2 HAVING count(*) {wanted}
                UNION ALL
                SELECT a.phone, o.proxy_number_id FROM orders_line o JOIN orders_agent a ON a.id = o.agent_id
                WHERE o.expires_at > now() GROUP BY 1, 2 HAVING count(*) {wanted}
            ) AS pairs JOIN orders_proxynumber p ON p.id = pairs.proxy_id
            ORDER BY random() LIMIT %s
            """,
            [limit],
        )
        return cursor.fetchall()
