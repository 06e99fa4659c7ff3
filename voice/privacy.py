"""The call log's part in the data retention policy (orders.services.purge_personal_data)."""

from datetime import datetime

from django.db.models import Q, QuerySet

from orders.models import Order

from .models import CallRecord


def scrub_call_records(sender: type, *, orders: QuerySet[Order], cutoff: datetime, **kwargs) -> dict[str, int]:
    """Blank the callers' and dialled numbers of calls about purged orders.

    Calls that matched no order (strangers, wrong numbers) are personal data
    too and have no order to close: they go once they are older than the
    cutoff. Role, outcome, statuses, durations and times stay.
    """
    calls = CallRecord.objects.filter(Q(order__in=orders) | Q(order__isnull=True, started_at__lt=cutoff))
    scrubbed = calls.exclude(from_number="", dialled_number="").update(from_number="", dialled_number="")
    return {"call records": scrubbed}
