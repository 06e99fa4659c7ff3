"""Reads for the answer webhook: who is calling, and whom do they reach?

The routing key is the pair (caller, proxy number), as in Twilio Proxy. Each
resolve is one indexed query, whatever the number of orders.
"""

from dataclasses import dataclass

from django.db import connection, models
from django.utils import timezone

from .models import Agent, Order, ProxyNumber, Role
from .phones import to_e164


class Action(models.TextChoices):
    CONNECT = "connect"
    ASK_PIN = "ask_pin"
    # The caller's order has a live line but its agent was deactivated: they
    # reach no one (support, if there is one) until staff assign a new agent.
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


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
# this query saves; tests/test_live_predicate.py checks that both pick the same
# orders. Phone columns hold E.164 text.
# A deactivated agent is no party: their own calls match no order as agent,
# and their orders' rows sort last (a caller's few live rows on one number),
# so LIMIT keeps the reachable ones and the caller still learns "unavailable".
_LIVE_ORDERS_OF_CALLER = f"""
SELECT o.id, o.customer_phone, a.phone, COALESCE(a.is_active, FALSE) AS reachable
FROM {Order._meta.db_table} o LEFT OUTER JOIN {Agent._meta.db_table} a ON a.id = o.agent_id
WHERE o.proxy_number_id = (SELECT id FROM {ProxyNumber._meta.db_table} WHERE number = %s)
  AND (o.customer_phone = %s OR o.agent_id = (SELECT id FROM {Agent._meta.db_table} WHERE phone = %s AND is_active))
  AND o.masking_expires_at > %s
"""  # noqa: S608 - table names from the models, values as parameters


def _live_orders_of(
    caller: str, proxy_number: str, *, pin: str | None = None, limit: int
) -> list[tuple[int, str, str | None, bool]]:
    """(order id, customer phone, agent phone, agent active) of the caller's live orders through ``proxy_number``.

    Orders whose agent is active come first.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    sql, params = _LIVE_ORDERS_OF_CALLER, [proxy_number, caller, caller, now]
    if pin is not None:
        sql, params = sql + "  AND o.pin = %s\n", [*params, pin]
    with connection.cursor() as cursor:
        cursor.execute(sql + f"ORDER BY reachable DESC LIMIT {int(limit)}", params)
        return cursor.fetchall()


def _route_to(
    order_id: int, customer_phone: str, agent_phone: str | None, reachable: bool, caller: str, proxy_number: str
) -> Route:
    if not reachable:
        # Only a customer gets here: an inactive agent's own calls match no order as agent.
        return Route(Action.UNAVAILABLE, caller, proxy_number, Role.CUSTOMER, order_id)
    if customer_phone == caller:
        return Route(Action.CONNECT, caller, proxy_number, Role.CUSTOMER, order_id, agent_phone)
    return Route(Action.CONNECT, caller, proxy_number, Role.AGENT, order_id, customer_phone)


def resolve(caller: str, proxy_number: str) -> Route:
    """Route a call from ``caller`` to ``proxy_number`` (raw webhook values)."""
    caller_e164, proxy_e164 = to_e164(caller), to_e164(proxy_number)
    if caller_e164 is None or proxy_e164 is None:
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    matches = _live_orders_of(caller_e164, proxy_e164, limit=2)
    if not matches:
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    if len(matches) > 1 and matches[1][3]:
        role = Role.CUSTOMER if matches[0][1] == caller_e164 else Role.AGENT
        return Route(Action.ASK_PIN, caller_e164, proxy_e164, role)
    return _route_to(*matches[0], caller_e164, proxy_e164)


def resolve_pin(caller: str, proxy_number: str, digits: str) -> Route:
    """Route a caller who typed ``digits`` at the PIN prompt.

    Only a party of the order is connected: a stranger who learnt a PIN still
    resolves to unknown.
    """
    caller_e164, proxy_e164 = to_e164(caller), to_e164(proxy_number)
    if caller_e164 is None or proxy_e164 is None or not digits or not digits.isdigit():
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    matches = _live_orders_of(caller_e164, proxy_e164, pin=digits, limit=1)
    if not matches:
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    return _route_to(*matches[0], caller_e164, proxy_e164)


def resolve_bridge(order_id: int | None, first: Role) -> Route:
    """Route a platform-started call: ``first`` answered Plivo's call, dial the order's other party.

    The order must still have a live line and an active agent, as when the
    call was requested; otherwise the party hears that nobody is available.
    """
    if order_id is None or first not in (Role.CUSTOMER, Role.AGENT):
        return Route(Action.UNKNOWN)
    order = (
        Order.objects.live()
        .filter(pk=order_id)
        .values("reference", "customer_phone", "agent__phone", "agent__is_active", "proxy_number__number")
        .first()
    )
    if order is None:
        return Route(Action.UNKNOWN)
    customer, agent = str(order["customer_phone"]), order["agent__phone"] and str(order["agent__phone"])
    proxy_number, reference = str(order["proxy_number__number"]), order["reference"]
    caller, callee = (agent, customer) if first == Role.AGENT else (customer, agent)
    if not order["agent__is_active"] or not caller:
        return Route(Action.UNAVAILABLE, caller, proxy_number, first, order_id, reference=reference)
    return Route(Action.CONNECT, caller, proxy_number, first, order_id, callee, reference=reference)


def parties_asked_for_pin(order: Order) -> list[Role]:
    """The order's parties who, calling now, would be asked for the PIN (``resolve`` answers ASK_PIN).

    Asked through ``resolve`` itself, so the admin says what a call would do.
    """
    if not order.is_line_live:
        return []
    proxy = str(order.proxy_number.number)
    parties = [(Role.CUSTOMER, order.customer_phone), (Role.AGENT, order.agent.phone if order.agent else None)]
    return [role for role, phone in parties if phone and resolve(str(phone), proxy).action == Action.ASK_PIN]
