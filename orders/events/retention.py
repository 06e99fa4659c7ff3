"""How long events are kept: EVENTS_RETENTION_DAYS, run by the daily purge."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .models import Delivery, Event


def prune_events(*, now: datetime | None = None) -> int:
    """Delete events (with their deliveries) older than ``EVENTS_RETENTION_DAYS``; how many events.

    An event still owed to an endpoint stays until its delivery ends. By then
    every delivery has: the last retry comes about 33 hours after the event.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    old_events = Event.objects.filter(occurred_at__lt=cutoff).exclude(deliveries__status=Delivery.Status.PENDING)
    _, deleted = old_events.delete()
    return deleted.get(Event._meta.label, 0)
