"""Reads for the answer webhook: who is calling, and whom do they reach?

The routing key is the pair (caller, proxy number), as in Twilio Proxy. Each
resolve is one indexed query, whatever the number of orders.
"""

import logging
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection, models
from django.utils import timezone

from .models import CALL_LIMIT_WINDOW, Agent, BlockedNumber, Order, ProxyNumber, Role, call_limit
from .phones import callable_problem
from .pool import explicit_party_countries

logger = logging.getLogger(__name__)


class Action(models.TextChoices):
    CONNECT = "connect"
    ASK_PIN = "ask_pin"
    # The caller's order has a live line but its agent was deactivated: they
    # reach no one (support, if there is one) until staff assign a new agent.
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"
    # The caller's number is on the block list: treated as a stranger, and
    # not even put through to support.
    BLOCKED = "blocked"
    # A party over MASKING_MAX_CALLS_PER_HOUR on this order's line: the route
    # keeps the order and the role, so the call's record and event name them.
    LIMITED = "limited"


@dataclass(frozen=True)
class Route:
    action: Action
    caller: str | None = None  # E.164, or None when From was not a number
    proxy_number: str | None = None  # E.164, or None when To was not a number
    role: Role = Role.UNKNOWN
    # The order's id, not the Order: building a model from the row (the phone
    # fields parse their numbers) cost more than the query's own Python side,
    # and callers only store the id.
    order_id: int | None = None
    connect_to: str | None = None  # the other party, E.164
    reference: str | None = None  # the order's, where the answer speaks it (click-to-call's bridge)


# The answer webhook's one query, written out: built through the ORM it cost
# several times the database's own work in Python on every call (see
# bench/RESULTS.md). Scalar subqueries (agent phone and proxy number are
# unique) let the planner use both composite indexes in one bitmap OR, instead
# of a join that looks at every live order on the number. The expiry test is a
# copy of OrderQuerySet.live()'s predicate, kept because the ORM cost is what
# this query saves; tests/orders/test_live_predicate.py checks that both pick the same
# orders. Phone columns hold E.164 text.
# A deactivated agent is no party: their own calls match no order as agent,
# and their orders' rows sort last (a caller's few live rows on one number),
# so LIMIT keeps the reachable ones and the caller still learns "unavailable".
# Abuse controls ride on the same query, so a known caller still costs one
# lookup and one insert: each party's calls in the current window come from
# the order row (kept by the hangup callback), and a block in force on the
# caller's number is one more row, from the block list's unique index, that
# sorts first, whether or not the caller has a live order. Its predicate is a
# copy of BlockedNumberQuerySet.in_force(), checked by the same test module.
_LIVE_ORDERS_OF_CALLER = f"""
SELECT o.id, o.customer_phone, a.phone, COALESCE(a.is_active, FALSE) AS reachable,
  CASE WHEN o.customer_calls_since > %s THEN o.customer_calls ELSE 0 END,
  CASE WHEN o.agent_calls_since > %s THEN o.agent_calls ELSE 0 END,
  FALSE AS blocked
FROM {Order._meta.db_table} o LEFT OUTER JOIN {Agent._meta.db_table} a ON a.id = o.agent_id
WHERE o.proxy_number_id = (SELECT id FROM {ProxyNumber._meta.db_table} WHERE number = %s)
  AND (o.customer_phone = %s OR o.agent_id = (SELECT id FROM {Agent._meta.db_table} WHERE phone = %s AND is_active))
  AND o.masking_expires_at > %s
"""  # noqa: S608 - table names from the models, values as parameters
_BLOCK_OF_CALLER = f"""UNION ALL
SELECT NULL, NULL, NULL, FALSE, 0, 0, TRUE
FROM {BlockedNumber._meta.db_table} b
WHERE b.number = %s AND (b.until IS NULL OR b.until > %s)
ORDER BY blocked DESC, reachable DESC
"""  # noqa: S608 - table name from the model, values as parameters


class _Row(NamedTuple):
    order_id: int | None
    customer_phone: str | None
    agent_phone: str | None
    reachable: bool
    customer_calls: int  # in the current window
    agent_calls: int
    blocked: bool


def _live_orders_of(caller: str, proxy_number: str, *, pin: str | None = None, limit: int) -> list[_Row]:
    """The caller's live orders through ``proxy_number``, orders whose agent is active first.

    A block in force on ``caller`` comes before them all, as a row of its own.
    """
    now = timezone.now()
    window_start = connection.ops.adapt_datetimefield_value(now - CALL_LIMIT_WINDOW)
    now = connection.ops.adapt_datetimefield_value(now)
    sql, params = _LIVE_ORDERS_OF_CALLER, [window_start, window_start, proxy_number, caller, caller, now]
    if pin is not None:
        sql, params = sql + "  AND o.pin = %s\n", [*params, pin]
    with connection.cursor() as cursor:
        cursor.execute(sql + _BLOCK_OF_CALLER + f"LIMIT {int(limit)}", [*params, caller, now])
        return [_Row._make(row) for row in cursor.fetchall()]


def _route_to(row: _Row, caller: str, proxy_number: str, *, hourly_limit: bool) -> Route:
    if not row.reachable:
        # Only a customer gets here: an inactive agent's own calls match no order as agent.
        return Route(Action.UNAVAILABLE, caller, proxy_number, Role.CUSTOMER, row.order_id)
    is_customer = row.customer_phone == caller
    role = Role.CUSTOMER if is_customer else Role.AGENT
    limit = call_limit()
    if hourly_limit and limit > 0 and (row.customer_calls if is_customer else row.agent_calls) >= limit:
        return Route(Action.LIMITED, caller, proxy_number, role, row.order_id)
    connect_to = {Role.CUSTOMER: row.customer_phone, Role.AGENT: row.agent_phone}[role.counterpart()]
    if not dialable(connect_to, row.order_id):
        return Route(Action.UNAVAILABLE, caller, proxy_number, role, row.order_id)
    return Route(Action.CONNECT, caller, proxy_number, role, row.order_id, connect_to)


def dialable(number: str, order_id: int | None) -> bool:
    """The callable-number rule once more, just before a number is dialled.

    A stored phone was checked when it was saved, but rows can predate the
    rule or be written around it. The country part only when
    MASKING_PARTY_COUNTRIES is set: the pool's countries would cost the
    answer a query.
    """
    problem = callable_problem(number, explicit_party_countries())
    if problem is not None:
        logger.warning("not dialling a party of order %s: %s", order_id, problem)
    return problem is None


def resolve(caller: str | None, proxy_number: str | None, *, hourly_limit: bool = True) -> Route:
    """Route a call from ``caller`` to ``proxy_number``, both E.164 (None: not a phone number).

    ``hourly_limit=False`` for texts: MASKING_MAX_CALLS_PER_HOUR counts calls only.
    """
    caller_e164, proxy_e164 = caller, proxy_number
    if caller_e164 is None or proxy_e164 is None:
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    matches = _live_orders_of(caller_e164, proxy_e164, limit=2)
    if not matches:
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    if matches[0].blocked:
        return Route(Action.BLOCKED, caller_e164, proxy_e164)
    if len(matches) > 1 and matches[1].reachable:
        role = Role.CUSTOMER if matches[0].customer_phone == caller_e164 else Role.AGENT
        return Route(Action.ASK_PIN, caller_e164, proxy_e164, role)
    return _route_to(matches[0], caller_e164, proxy_e164, hourly_limit=hourly_limit)


def resolve_pin(caller: str | None, proxy_number: str | None, digits: str, *, hourly_limit: bool = True) -> Route:
    """Route a caller who typed ``digits`` at the PIN prompt; numbers in E.164 (None: not a phone number).

    Only a party of the order is connected: a stranger who learnt a PIN still
    resolves to unknown.
    """
    caller_e164, proxy_e164 = caller, proxy_number
    if caller_e164 is None or proxy_e164 is None or not digits or not digits.isdigit():
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    matches = _live_orders_of(caller_e164, proxy_e164, pin=digits, limit=1)
    if not matches:
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    if matches[0].blocked:
        return Route(Action.BLOCKED, caller_e164, proxy_e164)
    return _route_to(matches[0], caller_e164, proxy_e164, hourly_limit=hourly_limit)


def resolve_bridge(order_id: int | None, first: Role) -> Route:
    """Route a platform-started call: ``first`` answered Plivo's call, dial the order's other party.

    The order must still have a live line and an active agent, as when the
    call was requested, and neither party's number a block in force (BLOCKED:
    no one is dialled); otherwise the party hears that nobody is available.
    The block list rides on the same query, so the bridge stays one lookup.
    """
    if order_id is None or first not in (Role.CUSTOMER, Role.AGENT):
        return Route(Action.UNKNOWN)
    blocks = BlockedNumber.objects.in_force().filter(
        models.Q(number=models.OuterRef("customer_phone")) | models.Q(number=models.OuterRef("agent__phone"))
    )
    order = (
        Order.objects.live()
        .filter(pk=order_id)
        .annotate(party_blocked=models.Exists(blocks))
        .values(
            "reference", "customer_phone", "agent__phone", "agent__is_active", "proxy_number__number", "party_blocked"
        )
        .first()
    )
    if order is None:
        return Route(Action.UNKNOWN)
    customer, agent = str(order["customer_phone"]), order["agent__phone"] and str(order["agent__phone"])
    proxy_number, reference = str(order["proxy_number__number"]), order["reference"]
    phones = {Role.CUSTOMER: customer, Role.AGENT: agent}
    caller, callee = phones[first], phones[first.counterpart()]
    if order["party_blocked"]:
        return Route(Action.BLOCKED, caller, proxy_number, first, order_id, reference=reference)
    if not order["agent__is_active"] or not caller or not dialable(callee, order_id):
        return Route(Action.UNAVAILABLE, caller, proxy_number, first, order_id, reference=reference)
    return Route(Action.CONNECT, caller, proxy_number, first, order_id, callee, reference=reference)


def parties_asked_for_pin(order: Order) -> list[Role]:
    """The order's parties who, calling now, would be asked for the PIN (``resolve`` answers ASK_PIN).

    Asked through ``resolve`` itself, so the admin says what a call would do.
    """
    if not order.is_line_live:
        return []
    proxy = str(order.proxy_number.number)
    parties = [(role, order.phone_of(role)) for role in (Role.CUSTOMER, Role.AGENT)]
    return [role for role, phone in parties if phone and resolve(str(phone), proxy).action == Action.ASK_PIN]
