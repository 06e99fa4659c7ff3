"""Reads about the proxy-number pool: how loaded each number is, and how many numbers each country needs.

The dashboard, ``/metrics`` and the allocation warning all give the same
advice, so the rule lives here once.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Count, F
from django.utils import timezone

from .models import ProxyNumber, live_lines_of, live_orders


def numbers_needed(busiest_party_orders: int) -> int:
    """Proxy numbers a country needs so that nobody is asked for a PIN: 2N − 1.

    A new order conflicts with a number when its customer or its agent already
    has a live order on it. With at most N live orders per party, the customer's
    N − 1 other orders and the agent's N − 1 can occupy 2N − 2 numbers between
    them, so a pool of 2N − 1 always leaves one free; fewer can run out for
    some pair. N = 0 (no live order) needs no number.
    """
    return max(0, 2 * busiest_party_orders - 1)


@dataclass(frozen=True)
class PoolAdvice:
    """The pool of one country: N, the pool size, and how many numbers to add."""

    country: str  # ISO region of the proxy numbers, "" when unknown
    busiest_party_orders: int  # N: the most live orders any one customer or agent holds on this country's numbers
    pool_size: int  # active proxy numbers in the country
    numbers_needed: int  # 2N − 1

    @property
    def numbers_to_add(self) -> int:
        return max(0, self.numbers_needed - self.pool_size)


def _busiest_party(now: datetime) -> dict[str, int]:
    """N per country: the most live orders one customer or agent holds on the country's numbers.

    Live orders per party per country, then the largest per country: two
    levels of GROUP BY, which the ORM cannot write, so the outer one wraps the
    ORM's own queries over live_orders() (the one live-line predicate) and
    only one row per country comes back.
    """
    live = live_orders(now).order_by()
    per_party = [
        live.values(country=F("proxy_number__country"), party=F(party))
        .annotate(lines=Count("*"))
        .values("country", "lines")
        for party in ("customer_phone", "agent_id")
    ]
    per_party[1] = per_party[1].filter(agent_id__isnull=False)
    parts = [queryset.query.sql_with_params() for queryset in per_party]
    sql = f"SELECT country, MAX(lines) FROM ({parts[0][0]} UNION ALL {parts[1][0]}) per_party GROUP BY country"  # noqa: S608 - the ORM's SQL
    with connection.cursor() as cursor:
        cursor.execute(sql, [*parts[0][1], *parts[1][1]])
        return dict(cursor.fetchall())


def pool_advice(now: datetime | None = None) -> list[PoolAdvice]:
    """The advice for every country with an active proxy number or a live line, by country code."""
    busiest = _busiest_party(now or timezone.now())
    pool = dict(
        ProxyNumber.objects.filter(is_active=True)
        .values("country")
        .annotate(size=Count("*"))
        .order_by()
        .values_list("country", "size")
    )
    return [
        PoolAdvice(
            country=country,
            busiest_party_orders=busiest.get(country, 0),
            pool_size=pool.get(country, 0),
            numbers_needed=numbers_needed(busiest.get(country, 0)),
        )
        for country in sorted(set(busiest) | set(pool))
    ]


@dataclass(frozen=True)
class NumberLoad:
    number: str  # E.164
    country: str
    is_active: bool
    live_lines: int


def live_lines_per_number(now: datetime | None = None) -> list[NumberLoad]:
    """Every proxy number with its count of live lines, busiest first."""
    rows = (
        ProxyNumber.objects.annotate(lines=live_lines_of("proxy_number", now))
        .order_by("-lines", "number")
        .values_list("number", "country", "is_active", "lines")
    )
    return [NumberLoad(str(number), country, is_active, lines) for number, country, is_active, lines in rows]


def explicit_party_countries() -> frozenset[str] | None:
    """MASKING_PARTY_COUNTRIES as a set, or None when it is empty (the pool decides). No query."""
    return frozenset(settings.MASKING_PARTY_COUNTRIES) or None


def party_countries() -> frozenset[str]:
    """The ISO regions a party's phone may be in (the callable-number rule's country part).

    MASKING_PARTY_COUNTRIES when set; else the countries of the active proxy
    numbers, since a proxy number is what a local caller dials; else, before
    the pool has any number, MASKING_DEFAULT_REGION, so orders can be taken
    while the pool is being set up.
    """
    explicit = explicit_party_countries()
    if explicit is not None:
        return explicit
    # order_by(): the model's ordering would add the number to the DISTINCT.
    pool = ProxyNumber.objects.filter(is_active=True).exclude(country="").order_by().values_list("country", flat=True)
    return frozenset(pool.distinct()) or frozenset({settings.MASKING_DEFAULT_REGION})
