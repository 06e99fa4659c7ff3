"""Reads for the answer webhook: who is calling, and whom do they reach?

The routing key is the pair (caller, proxy number), as in Twilio Proxy. Each
resolve is one indexed query, whatever the number of orders.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.db import models
from django.db.models import Q, Subquery
from django.utils import timezone

from .models import Agent, Order, ProxyNumber, live_orders
from .phones import to_e164


class Role(models.TextChoices):
    CUSTOMER = "customer"
    AGENT = "agent"
    UNKNOWN = "unknown"


class Action(StrEnum):
    CONNECT = "connect"
    ASK_PIN = "ask_pin"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Route:
    action: Action
    caller: str | None = None  # E.164, or None when From was not a number
    proxy_number: str | None = None  # E.164, or None when To was not a number
    role: Role = Role.UNKNOWN
    order: Order | None = None
    connect_to: str | None = None  # the other party, E.164


def _candidates(caller: str, proxy_number: str):
    # Scalar subqueries (agent phone and proxy number are unique) let the
    # planner use both composite indexes in one bitmap OR, instead of a join
    # that has to look at every live order on the number.
    agent_id = Subquery(Agent.objects.filter(phone=caller).values("pk")[:1])
    proxy_id = Subquery(ProxyNumber.objects.filter(number=proxy_number).values("pk")[:1])
    return (
        live_orders(timezone.now())
        .filter(Q(customer_phone=caller) | Q(agent=agent_id), proxy_number=proxy_id)
        .select_related("agent")
        .only("reference", "customer_phone", "agent__phone", "pin")
        .order_by()
    )


def _route_to(order: Order, caller: str, proxy_number: str) -> Route:
    if order.customer_phone == caller:
        role, other = Role.CUSTOMER, order.agent.phone
    else:
        role, other = Role.AGENT, order.customer_phone
    return Route(Action.CONNECT, caller, proxy_number, role, order, str(other))


def resolve(caller: str, proxy_number: str) -> Route:
    """Route a call from ``caller`` to ``proxy_number`` (raw webhook values)."""
    caller_e164, proxy_e164 = to_e164(caller), to_e164(proxy_number)
    if caller_e164 is None or proxy_e164 is None:
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    matches = list(_candidates(caller_e164, proxy_e164)[:2])
    if not matches:
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    if len(matches) > 1:
        role = Role.CUSTOMER if matches[0].customer_phone == caller_e164 else Role.AGENT
        return Route(Action.ASK_PIN, caller_e164, proxy_e164, role)
    return _route_to(matches[0], caller_e164, proxy_e164)


def resolve_pin(caller: str, proxy_number: str, digits: str) -> Route:
    """Route a caller who typed ``digits`` at the PIN prompt.

    Only a party of the order is connected: a stranger who learnt a PIN still
    resolves to unknown.
    """
    caller_e164, proxy_e164 = to_e164(caller), to_e164(proxy_number)
    if caller_e164 is None or proxy_e164 is None or not digits or not digits.isdigit():
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    matches = list(_candidates(caller_e164, proxy_e164).filter(pin=digits)[:1])
    if not matches:
        return Route(Action.UNKNOWN, caller_e164, proxy_e164)
    return _route_to(matches[0], caller_e164, proxy_e164)
