"""The call and message logs' part in the data retention policy (orders.services.purge_personal_data)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from orders.models import Order

from . import tasks
from .models import CallRecord, MessageRecord, Recording


def scrub_call_log(sender: type, *, orders: QuerySet[Order], cutoff: datetime, **kwargs) -> dict[str, int]:
    """Blank the parties' numbers on calls and texts about purged orders.

    Calls and texts that matched no order (strangers, wrong numbers) are
    personal data too and have no order to close: they go once they are older
    than the cutoff. Roles, outcomes, statuses, durations and times stay.
    """
    calls = CallRecord.objects.filter(Q(order__in=orders) | Q(order__isnull=True, started_at__lt=cutoff))
    messages = MessageRecord.objects.filter(Q(order__in=orders) | Q(order__isnull=True, received_at__lt=cutoff))
    return {
        "call records": calls.exclude(from_number="", dialled_number="").update(from_number="", dialled_number=""),
        "message records": messages.exclude(from_number="", relayed_to="").update(from_number="", relayed_to=""),
    }


def expire_recordings(sender: type, *, orders: QuerySet[Order], cutoff: datetime, **kwargs) -> dict[str, int]:
    """Queue the deletion at Plivo of recordings past MASKING_RECORDING_RETENTION_DAYS, and of purged orders'."""
    old = timezone.now() - timedelta(days=settings.MASKING_RECORDING_RETENTION_DAYS)
    recordings = Recording.objects.filter(Q(order__in=orders) | Q(created_at__lt=old))
    queued = tasks.queue_deletions(recordings)
    # Only when there were any: most deployments never record, and their summary stays as it was.
    return {"recordings queued for deletion at Plivo": queued} if queued else {}
