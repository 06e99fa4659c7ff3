"""Write rules for orders and their masked lines.

The admin, the commands, the API and the tests all call these functions, so
every path follows the same allocation rules (see DESIGN.md).
"""

import logging
import secrets
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, Count, Exists, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Agent, Order, ProxyNumber, live_orders
from .phones import redact

logger = logging.getLogger(__name__)

Status = Order.Status

ASSIGNABLE = {Status.PLACED, Status.ASSIGNED, Status.PICKED_UP}


def _transition_error(order: Order, action: str) -> ValidationError:
    return ValidationError(
        "Order %(reference)s is %(status)s and cannot be %(action)s.",
        code="invalid_transition",
        params={"reference": order.reference, "status": order.get_status_display().lower(), "action": action},
    )


def _empty_pool_error() -> ValidationError:
    return ValidationError(
        "The proxy-number pool is empty: add an active proxy number before assigning agents.",
        code="empty_pool",
    )


def validate_assignment(order: Order, agent: Agent) -> None:
    """Raise ValidationError when ``agent`` cannot be assigned to ``order``.

    The admin form calls this to show errors beside the field; ``assign_agent``
    calls it again under lock.
    """
    if order.status not in ASSIGNABLE:
        raise _transition_error(order, "assigned an agent")
    if not agent.is_active:
        raise ValidationError("Agent %(name)s is inactive.", code="inactive_agent", params={"name": agent.name})
    keeps_number = order.proxy_number_id is not None and order.proxy_number.is_active
    if not keeps_number and not ProxyNumber.objects.filter(is_active=True).exists():
        raise _empty_pool_error()


def assign_agent(order: Order, agent: Agent, *, now: datetime | None = None) -> Order:
    """Assign ``agent`` and open (or keep) the order's masked line.

    Returns the saved order. Reassigning keeps the proxy number the customer
    already knows; the PIN keeps routing unambiguous.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # The row lock serialises two staff members assigning the same order.
        order = Order.objects.select_for_update(of=("self",)).select_related("proxy_number").get(pk=order.pk)
        validate_assignment(order, agent)
        if order.agent_id == agent.pk and order.is_line_live:
            return order

        if order.proxy_number_id is not None and order.proxy_number.is_active:
            proxy_number = ProxyNumber.objects.select_for_update().get(pk=order.proxy_number_id)
        else:
            proxy_number = _allocate_proxy_number(order, agent, now)
        used_pins = _live_pins(proxy_number, exclude=order, now=now)
        if order.proxy_number_id != proxy_number.pk or not order.pin or order.pin in used_pins:
            order.pin = _new_pin(used_pins)

        order.agent = agent
        order.proxy_number = proxy_number
        order.masking_expires_at = now + timedelta(seconds=settings.MASKING_SESSION_TTL)
        if order.status == Status.PLACED:
            order.status = Status.ASSIGNED
        order.save()
    logger.info("order %s assigned agent %s on proxy %s", order.reference, agent.pk, redact(proxy_number.number))
    return order


def _allocate_proxy_number(order: Order, agent: Agent, now: datetime) -> ProxyNumber:
    """Pick and lock a proxy number following DESIGN.md's allocation rules."""
    live = live_orders(now).exclude(pk=order.pk)
    party_orders = live.filter(Q(customer_phone=order.customer_phone) | Q(agent=agent))
    country = phonenumbers.region_code_for_number(order.customer_phone) or ""
    # Per number, a count of its live lines only: an index-only range scan of
    # order_proxy_expiry. A Count() over the orders relation joined every order
    # ever made (600 ms at a million orders; see bench/RESULTS.md).
    live_on_number = live_orders(now).filter(proxy_number=OuterRef("pk")).order_by().values("proxy_number")
    candidates = (
        ProxyNumber.objects.filter(is_active=True)
        .annotate(
            foreign=Case(When(country=country, then=Value(0)), default=Value(1)),
            conflict=Exists(party_orders.filter(proxy_number=OuterRef("pk"))),
            load=Coalesce(Subquery(live_on_number.annotate(lines=Count("*")).values("lines")), 0),
        )
        .order_by("foreign", "conflict", "load", "pk")
    )
    chosen = candidates.first()
    if chosen is None:
        raise _empty_pool_error()
    if chosen.conflict:
        _warn_pool_exhausted(order, agent, live, country)
    # Lock the number so concurrent assignments draw PINs one after another.
    return ProxyNumber.objects.select_for_update().get(pk=chosen.pk)


def _warn_pool_exhausted(order: Order, agent: Agent, live, country: str) -> None:
    concurrent = 1 + max(
        live.filter(customer_phone=order.customer_phone).count(),
        live.filter(agent=agent).count(),
    )
    pool_size = ProxyNumber.objects.filter(is_active=True, country=country).count()
    logger.warning(
        "proxy-number pool exhausted for order %s: a party now has %d live orders but the pool has %d active "
        "number(s) in %s; callers will be asked for the order PIN. Add numbers until the pool has at least %d "
        "to avoid PIN prompts.",
        order.reference,
        concurrent,
        pool_size,
        country or "the customer's country",
        concurrent,
    )


def _live_pins(proxy_number: ProxyNumber, *, exclude: Order, now: datetime) -> set[str]:
    return set(live_orders(now).filter(proxy_number=proxy_number).exclude(pk=exclude.pk).values_list("pin", flat=True))


def _new_pin(used: set[str]) -> str:
    length = settings.MASKING_PIN_LENGTH
    capacity = 10**length
    if len(used) >= capacity:
        raise ValidationError(
            "Every %(length)d-digit PIN is in use on this proxy number; add proxy numbers to the pool.",
            code="pins_exhausted",
            params={"length": length},
        )
    while True:
        pin = f"{secrets.randbelow(capacity):0{length}d}"
        if pin not in used:
            return pin


def _transition(
    order: Order, *, allowed: set[str], action: str, status: str, expires_at: datetime | None = None
) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status not in allowed:
            raise _transition_error(order, action)
        order.status = status
        if expires_at is not None and order.masking_expires_at is not None:
            order.masking_expires_at = min(order.masking_expires_at, expires_at)
        order.save()
    logger.info("order %s %s", order.reference, order.get_status_display().lower())
    return order


def mark_picked_up(order: Order) -> Order:
    return _transition(
        order,
        allowed={Status.ASSIGNED},
        action="marked picked up",
        status=Status.PICKED_UP,
    )


def mark_delivered(order: Order) -> Order:
    """Deliver; the line stays open for the grace period for drop-off questions."""
    return _transition(
        order,
        allowed={Status.ASSIGNED, Status.PICKED_UP},
        action="marked delivered",
        status=Status.DELIVERED,
        expires_at=timezone.now() + timedelta(seconds=settings.MASKING_GRACE_PERIOD),
    )


def cancel_order(order: Order) -> Order:
    """Cancel; the line closes at once."""
    return _transition(
        order,
        allowed=ASSIGNABLE,
        action="cancelled",
        status=Status.CANCELLED,
        expires_at=timezone.now(),
    )
