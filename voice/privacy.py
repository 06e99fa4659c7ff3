"""The call and message logs' part in the data retention policy (orders.services.purge_personal_data)."""

from datetime import datetime

from django.db.models import Q, QuerySet

from orders.models import Order

from .models import CallRecord, MessageRecord


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
