"""Raising events: recorded in the transaction of the change that caused them.

``emit`` writes the event and one delivery per endpoint that wants it, in the
caller's transaction: a change that rolls back leaves no event, and a
committed change always has its event. The worker's delivery loop sends them
(orders/events/delivery.py); on Postgres a NOTIFY, sent when the transaction
commits, wakes it at once.

Nothing here is locked: events are ordered for the feed by the id of the
transaction that raised them (EventQuerySet.settled), so concurrent changes
never wait for each other to raise theirs.

Event data never holds a party's phone number: the platform knows its
parties; references, the proxy number, roles, statuses and durations do.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .models import Delivery, Event, EventType, WebhookEndpoint

if TYPE_CHECKING:
    from orders.models import Line, Order

# The channel the delivery loop LISTENs on (Postgres only).
CHANNEL = "numbermasking_deliveries"


def emit(
    event_type: EventType,
    data: Mapping[str, object],
    *,
    dedupe_key: str | None = None,
    occurred_at: datetime | None = None,
) -> Event | None:
    """Record ``event_type`` with ``data`` and its deliveries; None when ``dedupe_key`` was raised before."""
    # Part of the caller's transaction (a new one if there is none), with no
    # savepoint of its own: the event commits or rolls back with the change.
    with transaction.atomic(savepoint=False):
        event = Event(
            type=event_type, data=dict(data), dedupe_key=dedupe_key, occurred_at=occurred_at or timezone.now()
        )
        if dedupe_key is None:
            event.save()
        else:
            try:
                # The savepoint keeps a repeated cause from breaking the caller's transaction.
                with transaction.atomic():
                    event.save()
            except IntegrityError:
                return None
        endpoints = [
            endpoint for endpoint in WebhookEndpoint.objects.filter(is_active=True) if endpoint.wants(event_type)
        ]
        if endpoints:
            Delivery.objects.bulk_create(
                [Delivery(event=event, endpoint=endpoint, next_attempt_at=event.occurred_at) for endpoint in endpoints]
            )
            wake_deliveries()
    return event


def wake_deliveries() -> None:
    """Tell the delivery loop there is work, when the current transaction commits (Postgres; SQLite polls)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


def order_data(order: "Order", **extra: object) -> dict[str, object]:
    """What every order event says about its order: reference and its customer–agent line's number, no phone."""
    masking = order.masking
    proxy_number = str(masking.proxy_number.number) if masking is not None else None
    return {"reference": order.reference, "proxy_number": proxy_number, **extra}


def line_data(line: "Line", **extra: object) -> dict[str, object]:
    """What a line's event says: the order's reference, the line's number and its parties (roles), no phone."""
    return {
        "reference": line.order.reference,
        "proxy_number": str(line.proxy_number.number),
        "parties": [role.value for role in line.parties],
        **extra,
    }
