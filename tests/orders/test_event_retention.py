"""Events and finished task rows older than EVENTS_RETENTION_DAYS go with the daily purge_personal_data."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from orders.events import emit
from orders.models import Delivery, Event, EventType, WebhookEndpoint
from tests.support.events import run_worker

pytestmark = pytest.mark.django_db


def test_old_events_and_finished_tasks_are_deleted_recent_and_undelivered_ones_kept(settings, capsys):
    settings.EVENTS_RETENTION_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    emit(EventType.LINE_OPENED, {"reference": "OLD"}, occurred_at=old)
    recent = emit(EventType.LINE_OPENED, {"reference": "NEW"})
    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/never")
    owed = emit(EventType.LINE_OPENED, {"reference": "OWED"}, occurred_at=old)
    run_worker()  # one failed attempt: still pending, retried later
    DBTaskResult.objects.filter(status="SUCCESSFUL").update(finished_at=old)
    unfinished = DBTaskResult.objects.exclude(status="SUCCESSFUL").count()

    call_command("purge_personal_data")

    assert set(Event.objects.values_list("id", flat=True)) == {recent.id, owed.id}
    assert Delivery.objects.get().event_id == owed.seq
    assert DBTaskResult.objects.count() == unfinished
    assert capsys.readouterr().out.startswith("Deleted 1 event, ")
