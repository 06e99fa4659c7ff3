"""Write rules for orders themselves: creating one, and the status transitions that close its line."""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import events, tasks
from ..errors import ServiceError
from ..models import EventType, Line, Order, Role, refuse_pool_number, refuse_uncallable

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


def create_order(
    *, customer_name: str, customer_phone: str, reference: str = "", store_name: str = "", store_phone: str = ""
) -> tuple[Order, bool]:
    """Create an order (no line yet), or return the one an earlier try of the same request created.

    Returns ``(order, created)``. A reference is generated when none is given;
    a given reference already used for other details is refused
    (``reference_exists``), and so is a phone the service may not call
    (``pool_number``, ``uncallable_number``) and a store phone that is the
    customer's (``same_phone``).
    """
    refuse_pool_number(customer_phone, field="customer_phone")
    refuse_uncallable(customer_phone, field="customer_phone")
    if store_phone:
        refuse_pool_number(store_phone, field="store_phone")
        refuse_uncallable(store_phone, field="store_phone")
        if str(store_phone) == str(customer_phone):
            raise ServiceError("The store's phone is the customer's phone.", code="same_phone", field="store_phone")
    try:
        # The savepoint keeps a duplicate reference from breaking a surrounding transaction.
        with transaction.atomic():
            return Order.objects.create(
                reference=reference,
                customer_name=customer_name,
                customer_phone=customer_phone,
                store_name=store_name,
                store_phone=store_phone,
            ), True
    except IntegrityError:
        # Only the reference is unique, and only a given reference can collide.
        if not reference:
            raise
    existing = Order.objects.get(reference=reference)
    same = (existing.customer_name, str(existing.customer_phone), existing.store_name, str(existing.store_phone or ""))
    if same == (customer_name, str(customer_phone), store_name, str(store_phone or "")):
        return existing, False
    raise ServiceError(
        "An order with reference %(reference)s already exists with other details.",
        code="reference_exists",
        status=409,
        field="reference",
        params={"reference": reference},
    )


def _transition(
    order: Order,
    *,
    allowed: set[str],
    action: str,
    status: str,
    close: Iterable[str] | None = None,
    expires_at: datetime | None = None,
) -> Order:
    """Move the order to ``status``; its lines of the kinds in ``close`` close at ``expires_at`` (now when None)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        # A repeated request (a retry, a second click) finds the order where
        # the first one left it: that is success, not a refusal. Decided under
        # the lock, so two concurrent requests cannot both change the order.
        if order.status == status:
            return order
        if order.status not in allowed:
            raise _transition_error(order, action)
        previous_status = order.status
        order.status = status
        order.save()
        _status_changed(order, previous_status)
        if close is not None:
            lines = Line.objects.select_for_update().filter(order=order, kind__in=close)
            # A delivered order's lines expire at the end of its grace period.
            close_lines(order, lines, reason=status, at=expires_at or timezone.now())
    logger.info("order %s %s", order.reference, order.get_status_display().lower())
    return order


def close_lines(order: Order, lines: Iterable[Line], *, reason: str, at: datetime) -> list[Line]:
    """Move ``lines`` of ``order`` to close at ``at`` (or earlier, if they close sooner); the caller holds the lock.

    Raises ``line.closed`` for each line that was live, and schedules the
    ``line.expired`` check of a line that still has time left.
    """
    changed = []
    for line in lines:
        if not line.is_live:
            continue
        line.expires_at = min(line.expires_at, at)
        line.save(update_fields=["expires_at"])
        events.emit(
            EventType.LINE_CLOSED, events.line_data(line, reason=reason, expires_at=line.expires_at.isoformat())
        )
        if line.expires_at > timezone.now():
            tasks.line_expiry_scheduled(line)
        changed.append(line)
    _forget_lines(order)
    return changed


def _forget_lines(order: Order) -> None:
    """Drop the lines ``order`` read before they changed, so it reads them again (Order.line)."""
    getattr(order, "_prefetched_objects_cache", {}).pop("lines", None)


def _status_changed(order: Order, previous_status: str) -> None:
    events.emit(
        EventType.ORDER_STATUS_CHANGED, events.order_data(order, **{"from": previous_status, "to": order.status})
    )


def mark_picked_up(order: Order) -> Order:
    """Picked up; with MASKING_CLOSE_STORE_LINE_ON_PICKUP the store's lines close: the store's part is done."""
    store_kinds = Line.Kind.with_party(Role.STORE) if settings.MASKING_CLOSE_STORE_LINE_ON_PICKUP else None
    return _transition(
        order,
        allowed=PICK_UP_FROM,
        action="marked picked up",
        status=Status.PICKED_UP,
        close=store_kinds,
    )


def mark_delivered(order: Order) -> Order:
    """Deliver; every line stays open for the grace period, for drop-off questions."""
    return _transition(
        order,
        allowed=DELIVER_FROM,
        action="marked delivered",
        status=Status.DELIVERED,
        close=list(Line.Kind),
        expires_at=timezone.now() + timedelta(seconds=settings.MASKING_GRACE_PERIOD),
    )


def cancel_order(order: Order) -> Order:
    """Cancel; every line closes at once."""
    return _transition(
        order,
        allowed=CANCEL_FROM,
        action="cancelled",
        status=Status.CANCELLED,
        close=list(Line.Kind),
    )
