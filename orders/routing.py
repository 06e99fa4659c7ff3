"""Reads for the answer webhook: who is calling, and whom do they reach?

The routing key is the pair (caller, proxy number), as in Twilio Proxy. Each
resolve is one indexed query, whatever the number of orders.
"""

import logging
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection, models
from django.utils import timezone

from .models import CALL_LIMIT_WINDOW, Agent, BlockedNumber, Line, Order, ProxyNumber, Role, call_limit
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
    line_id: int | None = None
    kind: str | None = None  # the line's Line.Kind value
    callee_role: Role = Role.UNKNOWN  # the line's other party

    @property
    def parties(self) -> list[str]:
        """The line's parties (roles) for records and events; [] without a line."""
        return [role.value for role in Line.Kind(self.kind).parties] if self.kind else []


# The answer webhook's one query, written out: built through the ORM it cost
# several times the database's own work in Python on every call (see
# bench/RESULTS.md). Scalar subqueries (agent phone and proxy number are
# unique) let the planner use the three composite indexes (caller's phone,
# proxy number) in one bitmap OR. A line copies its parties' phones from the
# order, so no join to the orders table is needed. The expiry test is a copy
# of LineQuerySet.live()'s predicate, kept because the ORM cost is what this
# query saves; tests/orders/test_live_predicate.py checks that both pick the same
# lines. Phone columns hold E.164 text ("" where the kind lacks the party).
# A deactivated agent is no party: their own calls match no line as agent,
# and lines with an inactive agent sort last (a caller's few live rows on one
# number), so LIMIT keeps the reachable ones and the caller still learns
# "unavailable". Abuse controls ride on the same query, so a known caller
# still costs one lookup and one insert: each party's calls in the current
# window come from the line row (kept by the hangup callback), and a block in
# force on the caller's number is one more row, from the block list's unique
# index, that sorts first, whether or not the caller has a live line. Its
# predicate is a copy of BlockedNumberQuerySet.in_force(), checked by the
# same test module.
_LIVE_LINES_OF_CALLER = f"""
SELECT l.id, l.order_id, l.kind, l.customer_phone, l.store_phone, a.phone,
  CASE WHEN l.kind = '{Line.Kind.CUSTOMER_STORE.value}' THEN TRUE ELSE COALESCE(a.is_active, FALSE) END AS reachable,
  CASE WHEN l.customer_calls_since > %s THEN l.customer_calls ELSE 0 END,
  CASE WHEN l.agent_calls_since > %s THEN l.agent_calls ELSE 0 END,
  CASE WHEN l.store_calls_since > %s THEN l.store_calls ELSE 0 END,
  FALSE AS blocked
FROM {Line._meta.db_table} l LEFT OUTER JOIN {Agent._meta.db_table} a ON a.id = l.agent_id
WHERE l.proxy_number_id = (SELECT id FROM {ProxyNumber._meta.db_table} WHERE number = %s)
  AND (l.customer_phone = %s OR l.store_phone = %s
       OR l.agent_id = (SELECT id FROM {Agent._meta.db_table} WHERE phone = %s AND is_active))
  AND l.expires_at > %s
"""  # noqa: S608 - table names from the models, values as parameters
_BLOCK_OF_CALLER = f"""UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, FALSE, 0, 0, 0, TRUE
FROM {BlockedNumber._meta.db_table} b
WHERE b.number = %s AND (b.until IS NULL OR b.until > %s)
ORDER BY blocked DESC, reachable DESC
"""  # noqa: S608 - table name from the model, values as parameters


class _Row(NamedTuple):
    line_id: int | None
    order_id: int | None
    kind: str | None
    customer_phone: str | None
    store_phone: str | None
    agent_phone: str | None
    reachable: bool
    customer_calls: int  # in the current window
    agent_calls: int
    store_calls: int
    blocked: bool

    def role_of(self, caller: str) -> Role:
        if self.customer_phone == caller:
            return Role.CUSTOMER
        if self.store_phone == caller:
            return Role.STORE
        return Role.AGENT

    def phone_of(self, role: Role) -> str | None:
        return {Role.CUSTOMER: self.customer_phone, Role.STORE: self.store_phone, Role.AGENT: self.agent_phone}.get(
            role
        )


def _live_lines_of(caller: str, proxy_number: str, *, pin: str | None = None, limit: int) -> list[_Row]:
    """The caller's live lines through ``proxy_number``, lines whose agent is active first.

    A block in force on ``caller`` comes before them all, as a row of its own.
    """
    now = timezone.now()
    window_start = connection.ops.adapt_datetimefield_value(now - CALL_LIMIT_WINDOW)
    now = connection.ops.adapt_datetimefield_value(now)
    sql = _LIVE_LINES_OF_CALLER
    params = [window_start, window_start, window_start, proxy_number, caller, caller, caller, now]
    if pin is not None:
        sql, params = sql + "  AND l.pin = %s\n", [*params, pin]
    with connection.cursor() as cursor:
        cursor.execute(sql + _BLOCK_OF_CALLER + f"LIMIT {int(limit)}", [*params, caller, now])
        return [_Row._make(row) for row in cursor.fetchall()]


def _route_to(row: _Row, caller: str, proxy_number: str, *, hourly_limit: bool) -> Route:
    role = row.role_of(caller)
    callee = Line.Kind(row.kind).other(role)
    line = {"line_id": row.line_id, "kind": row.kind, "callee_role": callee}
    if not row.reachable:
        # Only the agent's counterpart gets here: an inactive agent's own calls match no line as agent.
        return Route(Action.UNAVAILABLE, caller, proxy_number, role, row.order_id, **line)
    limit = call_limit()
    calls = {Role.CUSTOMER: row.customer_calls, Role.AGENT: row.agent_calls, Role.STORE: row.store_calls}[role]
    if hourly_limit and limit > 0 and calls >= limit:
        return Route(Action.LIMITED, caller, proxy_number, role, row.order_id, **line)
    connect_to = row.phone_of(callee)
    if not dialable(connect_to, row.order_id):
        return Route(Action.UNAVAILABLE, caller, proxy_number, role, row.order_id, **line)
    return Route(Action.CONNECT, caller, proxy_number, role, row.order_id, connect_to, **line)


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
    # Never "": a line keeps "" for the party its kind lacks.
    if not caller_e164 or not proxy_e164:
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    matches = _live_lines_of(caller_e164, proxy_e164, limit=2)
    if not matches:
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    if matches[0].blocked:
        return Route(Action.BLOCKED, caller_e164, proxy_e164)
    if len(matches) > 1 and matches[1].reachable:
        # Several live lines of this caller on this number: the PIN says which.
        return Route(Action.ASK_PIN, caller_e164, proxy_e164, matches[0].role_of(caller_e164))
    return _route_to(matches[0], caller_e164, proxy_e164, hourly_limit=hourly_limit)


def resolve_pin(caller: str | None, proxy_number: str | None, digits: str, *, hourly_limit: bool = True) -> Route:
    """Route a caller who typed ``digits`` at the PIN prompt; numbers in E.164 (None: not a phone number).

    Only a party of the line is connected: a stranger who learnt a PIN still
    resolves to unknown.
    """
    caller_e164, proxy_e164 = caller, proxy_number
    if not caller_e164 or not proxy_e164 or not digits or not digits.isdigit():
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    matches = _live_lines_of(caller_e164, proxy_e164, pin=digits, limit=1)
    if not matches:
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    if matches[0].blocked:
        return Route(Action.BLOCKED, caller_e164, proxy_e164)
    return _route_to(matches[0], caller_e164, proxy_e164, hourly_limit=hourly_limit)


def resolve_bridge(order_id: int | None, first: Role, to: Role | None = None) -> Route:
    """Route a platform-started call: ``first`` answered Plivo's call, dial ``to`` over their line.

    ``to`` defaults to the counterpart on the customer–agent line (requests
    queued before lines had kinds). The line must still be live and its
    agent (if it has one) active, as when the call was requested, and neither
    party's number a block in force (BLOCKED: no one is dialled); otherwise
    the party hears that nobody is available. The block list rides on the
    same query, so the bridge stays one lookup.
    """
    to = to or first.counterpart()
    kind = Line.Kind.joining(first, to)
    if order_id is None or kind is None:
        return Route(Action.UNKNOWN)
    blocks = BlockedNumber.objects.in_force().filter(
        models.Q(number=models.OuterRef("customer_phone"))
        | models.Q(number=models.OuterRef("store_phone"))
        | models.Q(number=models.OuterRef("agent__phone"))
    )
    line = (
        Line.objects.live()
        .filter(order_id=order_id, kind=kind)
        .annotate(party_blocked=models.Exists(blocks))
        .values(
            "id",
            "order__reference",
            "customer_phone",
            "store_phone",
            "agent__phone",
            "agent__is_active",
            "proxy_number__number",
            "party_blocked",
        )
        .first()
    )
    if line is None:
        return Route(Action.UNKNOWN)
    phones = {
        Role.CUSTOMER: str(line["customer_phone"] or ""),
        Role.STORE: str(line["store_phone"] or ""),
        Role.AGENT: str(line["agent__phone"] or ""),
    }
    caller, callee = phones[first], phones[to]
    proxy_number, reference = str(line["proxy_number__number"]), line["order__reference"]
    common = {"reference": reference, "line_id": line["id"], "kind": kind.value, "callee_role": to}
    if line["party_blocked"]:
        return Route(Action.BLOCKED, caller, proxy_number, first, order_id, **common)
    agent_gone = Role.AGENT in kind.parties and not line["agent__is_active"]
    if agent_gone or not caller or not dialable(callee, order_id):
        return Route(Action.UNAVAILABLE, caller, proxy_number, first, order_id, **common)
    return Route(Action.CONNECT, caller, proxy_number, first, order_id, callee, **common)


def parties_asked_for_pin(order: Order) -> list[Role]:
    """The order's parties who, calling now over the customer–agent line, would be asked for the PIN.

    Asked through ``resolve`` itself, so the admin says what a call would do.
    """
    line = order.masking
    if line is None:
        return []
    return [role for role in (Role.CUSTOMER, Role.AGENT) if asked_for_pin(order, line, role)]


def asked_for_pin(order: Order, line: Line, role: Role) -> bool:
    """Whether ``order``'s party ``role``, calling ``line``'s number now, would be asked for the PIN.

    Asked through ``resolve`` itself (one query), so the admin and its
    simulator say what a call would do. False when the line is not live or
    ``role`` is not one of its parties.
    """
    phone = order.phone_of(role)
    if not line.is_live or not phone or role not in line.parties:
        return False
    return resolve(phone, str(line.proxy_number.number)).action == Action.ASK_PIN
