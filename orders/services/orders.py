"""Write rules for orders themselves: creating one, and the status transitions that close its line."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import events, tasks
from ..errors import ServiceError
from ..models import EventType, Order, refuse_pool_number, refuse_uncallable

logger = logging.getLogger(__name__)

Status = Order.Status

ASSIGNABLE = {Status.PLACED, Status.ASSIGNED, Status.PICKED_UP}

# The statuses each transition starts from; the admin offers a button only where it applies.
PICK_UP_FROM = {Status.ASSIGNED}

DELIVER_FROM = {Status.ASSIGNED, Status.PICKED_UP}

CANCEL_FROM = ASSIGNABLE


def _transition_error(order: Order, action: str) -> ServiceError:
    return ServiceError(
        "Order %(reference)s is %(status)s and cannot be %(action)s.",
        code="invalid_transition",
        status=409,
        params={"reference": order.reference, "status": order.get_status_display().lower(), "action": action},
    )


def create_order(*, customer_name: str, customer_phone: str, reference: str = "") -> tuple[Order, bool]:
    """Create an order (no line yet), or return the one an earlier try of the same request created.

    Returns ``(order, created)``. A reference is generated when none is given;
    a given reference already used for other details is refused
    (``reference_exists``), and so is a phone the service may not call
    (``pool_number``, ``uncallable_number``).
    """
    refuse_pool_number(customer_phone, field="customer_phone")
    refuse_uncallable(customer_phone, field="customer_phone")
    try:
        # The savepoint keeps a duplicate reference from breaking a surrounding transaction.
        with transaction.atomic():
            return Order.objects.create(
                reference=reference, customer_name=customer_name, customer_phone=customer_phone
            ), True
    except IntegrityError:
        # Only the reference is unique, and only a given reference can collide.
        if not reference:
            raise
    existing = Order.objects.select_related("proxy_number").get(reference=reference)
    if existing.customer_name == customer_name and str(existing.customer_phone) == str(customer_phone):
        return existing, False
    raise ServiceError(
        "An order with reference %(reference)s already exists with other details.",
        code="reference_exists",
        status=409,
        field="reference",
        params={"reference": reference},
    )


def _transition(
    order: Order, *, allowed: set[str], action: str, status: str, expires_at: datetime | None = None
) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        # A repeated request (a retry, a second click) finds the order where
        # the first one left it: that is success, not a refusal. Decided under
        # the lock, so two concurrent requests cannot both change the order.
        if order.status == status:
            return order
        if order.status not in allowed:
            raise _transition_error(order, action)
        previous_status, was_live = order.status, order.is_line_live
        order.status = status
        if expires_at is not None and order.masking_expires_at is not None:
            order.masking_expires_at = min(order.masking_expires_at, expires_at)
        order.save()
        _status_changed(order, previous_status)
        if was_live and expires_at is not None:
            events.emit(
                EventType.LINE_CLOSED,
                events.order_data(order, reason=status, expires_at=order.masking_expires_at.isoformat()),
            )
            if status != Status.CANCELLED:
                # A delivered order's line expires at the end of its grace period.
                tasks.line_expiry_scheduled(order)
    logger.info("order %s %s", order.reference, order.get_status_display().lower())
    return order


def _status_changed(order: Order, previous_status: str) -> None:
    events.emit(
        EventType.ORDER_STATUS_CHANGED, events.order_data(order, **{"from": previous_status, "to": order.status})
    )


def mark_picked_up(order: Order) -> Order:
    return _transition(
        order,
        allowed=PICK_UP_FROM,
        action="marked picked up",
        status=Status.PICKED_UP,
    )


def mark_delivered(order: Order) -> Order:
    """Deliver; the line stays open for the grace period for drop-off questions."""
    return _transition(
        order,
        allowed=DELIVER_FROM,
        action="marked delivered",
        status=Status.DELIVERED,
        expires_at=timezone.now() + timedelta(seconds=settings.MASKING_GRACE_PERIOD),
    )


def cancel_order(order: Order) -> Order:
    """Cancel; the line closes at once."""
    return _transition(
        order,
        allowed=CANCEL_FROM,
        action="cancelled",
        status=Status.CANCELLED,
        expires_at=timezone.now(),
    )
