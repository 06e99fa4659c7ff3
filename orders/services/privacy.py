"""The write rule for personal data: scrubbing closed orders once they are old enough."""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ..models import Order
from ..signals import purging_personal_data

logger = logging.getLogger(__name__)

Status = Order.Status


def closed_orders(cutoff: datetime) -> QuerySet[Order]:
    """Orders delivered or cancelled whose line closed before ``cutoff``.

    A cancelled order that never had a line counts from its last change.
    """
    return Order.objects.filter(status__in=[Status.DELIVERED, Status.CANCELLED]).filter(
        Q(masking_expires_at__lt=cutoff) | Q(masking_expires_at__isnull=True, updated_at__lt=cutoff)
    )


def purge_personal_data(*, older_than: timedelta, now: datetime | None = None) -> dict[str, int]:
    """Scrub customer names and numbers from orders closed longer than ``older_than``.

    Status, timestamps, agent and proxy number stay, so counts and durations
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
        counts = {
            "orders": orders.exclude(customer_name="", customer_phone="").update(customer_name="", customer_phone=""),
            **counts,
        }
    logger.info("purged personal data closed before %s: %s", cutoff.isoformat(), counts)
    return counts
