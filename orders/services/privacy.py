"""The write rule for personal data: scrubbing closed orders once they are old enough."""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from ..models import Line, Order
from ..signals import purging_personal_data

logger = logging.getLogger(__name__)

Status = Order.Status


def closed_orders(cutoff: datetime) -> QuerySet[Order]:
    """Orders delivered or cancelled whose line closed before ``cutoff``.

    Every line of the order must have closed before ``cutoff``; an order
    that never had a line counts from its last change.
    """
    lines = Line.objects.filter(order=OuterRef("pk"))
    recent = lines.filter(Q(expires_at__isnull=True) | Q(expires_at__gte=cutoff))
    return (
        Order.objects.filter(status__in=[Status.DELIVERED, Status.CANCELLED])
        .exclude(Exists(recent))
        .filter(Exists(lines) | Q(updated_at__lt=cutoff))
    )


def purge_personal_data(*, older_than: timedelta, now: datetime | None = None) -> dict[str, int]:
    """Scrub customer names and numbers from orders closed longer than ``older_than``.

    Customer and store names and phones go, on the order and its lines.
    Status, timestamps, agent and proxy numbers stay, so counts and durations
    still add up. Scrubbed values are empty strings: no phone number parses
    to one, so routing can never match a purged order, and assign_agent
    refuses to reopen one. Rerunning scrubs nothing new.

    Other apps keep personal data about orders too (voice keeps callers'
    numbers in its call log) but orders must not import them: they receive
    ``signals.purging_personal_data`` in the same transaction and report what
    they scrubbed. Returns counts by kind, e.g. {"orders": 2, "call records": 5}.
    """
    cutoff = (now or timezone.now()) - older_than
    orders = closed_orders(cutoff)
    with transaction.atomic():
        counts: dict[str, int] = {}
        for _receiver, scrubbed in purging_personal_data.send(sender=Order, orders=orders, cutoff=cutoff):
            counts.update(scrubbed or {})
        # update(), not save(): updated_at keeps the closing time the cutoff is measured from.
        Line.objects.filter(order__in=orders).exclude(customer_phone="", store_phone="").update(
            customer_phone="", store_phone=""
        )
        counts = {
            "orders": orders.exclude(customer_name="", customer_phone="", store_name="", store_phone="").update(
                customer_name="", customer_phone="", store_name="", store_phone=""
            ),
            **counts,
        }
    logger.info("purged personal data closed before %s: %s", cutoff.isoformat(), counts)
    return counts
