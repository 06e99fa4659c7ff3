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

from .models import Line, ProxyNumber, live_lines, live_lines_of


def numbers_needed(busiest_party_orders: int) -> int:
    """Proxy numbers a country needs so that nobody is asked for a PIN: 2N − 1.

    A new line conflicts with a number when either of its two parties already
    has a live line on it. With at most N live lines per party (of any kind:
    an agent's customer line and store line count as two), one party's N − 1
    other lines and the other's N − 1 can occupy 2N − 2 numbers between them,
    so a pool of 2N − 1 always leaves one free; fewer can run out for some
    pair. N = 0 (no live line) needs no number.
    """
    return max(0, 2 * busiest_party_orders - 1)


@dataclass(frozen=True)
class PoolAdvice:
    """The pool of one country: N, the pool size, and how many numbers to add."""

    country: str  # ISO region of the proxy numbers, "" when unknown
    busiest_party_orders: int  # N: the most live lines any one party holds on this country's numbers
    pool_size: int  # active proxy numbers in the country
    numbers_needed: int  # 2N − 1

    @property
    def numbers_to_add(self) -> int:
        return max(0, self.numbers_needed - self.pool_size)


def _busiest_party(now: datetime) -> dict[str, int]:
    """N per country: the most live lines one party (customer, store or agent) holds on the country's numbers.

    Live lines per party per country, then the largest per country: two
    levels of GROUP BY, which the ORM cannot write, so the outer one wraps the
    ORM's own queries over live_lines() (the one live-line predicate) and
    only one row per country comes back.
    """
    live = live_lines(now).order_by()
    per_party = [
        live.exclude(**{party: ""})
        .values(country=F("proxy_number__country"), party=F(party))
        .annotate(lines=Count("*"))
        .values("country", "lines")
        for party in ("customer_phone", "store_phone")
    ]
    per_party.append(
        live.filter(agent_id__isnull=False)
        .values(country=F("proxy_number__country"), party=F("agent_id"))
        .annotate(lines=Count("*"))
        .values("country", "lines")
    )
    parts = [queryset.query.sql_with_params() for queryset in per_party]
    union = " UNION ALL ".join(sql for sql, _params in parts)
    sql = f"SELECT country, MAX(lines) FROM ({union}) per_party GROUP BY country"  # noqa: S608 - the ORM's SQL
    with connection.cursor() as cursor:
        cursor.execute(sql, [param for _sql, params in parts for param in params])
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
        ProxyNumber.objects.annotate(live=live_lines_of("proxy_number", now))
        .order_by("-live", "number")
        .values_list("number", "country", "is_active", "live")
    )
    return [NumberLoad(str(number), country, is_active, lines) for number, country, is_active, lines in rows]


def live_lines_by_kind(now: datetime | None = None) -> dict[str, int]:
    """Live lines of each kind (every kind listed, 0 included), for ``/metrics`` and the dashboard."""
    counts = dict(live_lines(now).order_by().values("kind").annotate(lines=Count("*")).values_list("kind", "lines"))
    return {kind.value: counts.get(kind.value, 0) for kind in Line.Kind}


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
