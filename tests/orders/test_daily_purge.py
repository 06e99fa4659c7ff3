"""The worker runs purge_personal_data daily at MASKING_PURGE_AT, so no cron is needed."""

from datetime import datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from orders import services, tasks
from orders.checks import check_masking_settings
from orders.models import DeliverySweep, Line, Order
from tests.support.world import CUSTOMER

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")


def queued_purges() -> int:
    return DBTaskResult.objects.filter(task_path="orders.tasks.daily_purge").count()


def test_the_next_purge_is_the_next_purge_time_in_the_time_zone(settings):
    settings.TIME_ZONE, settings.MASKING_PURGE_AT = "Europe/Paris", "03:30"
    with timezone.override(PARIS):
        before = datetime(2026, 3, 1, 2, 0, tzinfo=PARIS)
        after = datetime(2026, 3, 1, 3, 30, tzinfo=PARIS)  # exactly at the time: the next day's
        assert tasks.next_purge_at(before) == datetime(2026, 3, 1, 3, 30, tzinfo=PARIS)
        assert tasks.next_purge_at(after) == datetime(2026, 3, 2, 3, 30, tzinfo=PARIS)
        # Across the spring change (29 March 2026), still 03:30 on the wall clock.
        assert tasks.next_purge_at(datetime(2026, 3, 28, 12, 0, tzinfo=PARIS)).utcoffset() == timedelta(hours=2)


def test_the_first_look_only_schedules_then_a_due_purge_is_queued_once(settings):
    settings.MASKING_PURGE_AT = "03:30"
    now = datetime(2026, 3, 1, 12, 0, tzinfo=ZoneInfo("UTC"))

    assert tasks.schedule_purge(now) is False
    assert DeliverySweep.objects.get(pk=tasks.PURGE_ROW).next_at == datetime(2026, 3, 2, 3, 30, tzinfo=ZoneInfo("UTC"))
    assert tasks.schedule_purge(now + timedelta(hours=15)) is False  # 03:00 the next day: not yet
    assert queued_purges() == 0

    due = datetime(2026, 3, 2, 3, 31, tzinfo=ZoneInfo("UTC"))
    assert tasks.schedule_purge(due) is True
    assert tasks.schedule_purge(due) is False  # another worker's look, a moment later
    assert queued_purges() == 1
    assert DeliverySweep.objects.get(pk=tasks.PURGE_ROW).next_at == datetime(2026, 3, 3, 3, 30, tzinfo=ZoneInfo("UTC"))


def test_a_worker_down_for_days_purges_once_when_it_is_back(settings):
    settings.MASKING_PURGE_AT = "03:30"
    DeliverySweep.objects.create(pk=tasks.PURGE_ROW, next_at=timezone.now() - timedelta(days=3))

    assert tasks.schedule_purge() is True
    assert tasks.schedule_purge() is False
    assert queued_purges() == 1


def test_a_changed_time_moves_the_next_purge(settings):
    settings.MASKING_PURGE_AT = "03:30"
    now = datetime(2026, 3, 1, 12, 0, tzinfo=ZoneInfo("UTC"))
    tasks.schedule_purge(now)

    settings.MASKING_PURGE_AT = "13:15"
    assert tasks.schedule_purge(now) is False
    assert DeliverySweep.objects.get(pk=tasks.PURGE_ROW).next_at == datetime(2026, 3, 1, 13, 15, tzinfo=ZoneInfo("UTC"))


def test_empty_turns_the_daily_purge_off(settings):
    settings.MASKING_PURGE_AT = ""
    DeliverySweep.objects.create(pk=tasks.PURGE_ROW, next_at=timezone.now() - timedelta(days=1))

    assert tasks.schedule_purge() is False
    assert queued_purges() == 0


@pytest.mark.parametrize("value", ["3.30", "25:00", "03:3", "noon"])
def test_a_purge_time_that_is_not_a_time_of_day_is_refused_at_start_up(settings, value):
    settings.MASKING_PURGE_AT = value
    assert "orders.E007" in [error.id for error in check_masking_settings(None)]


def test_the_worker_runs_the_due_purge(settings, proxy_number, agent, capsys):
    settings.MASKING_PURGE_AT = "03:30"
    long_ago = timezone.now() - timedelta(days=45)
    order = services.assign_agent(Order.objects.create(customer_name="Old Alice", customer_phone=CUSTOMER), agent)
    services.mark_delivered(order)
    Line.objects.filter(order=order).update(expires_at=long_ago)
    Order.objects.filter(pk=order.pk).update(updated_at=long_ago)
    DeliverySweep.objects.create(pk=tasks.PURGE_ROW, next_at=timezone.now() - timedelta(minutes=1))

    # The database worker closes stale connections between tasks; here that would end the test's transaction.
    with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
        call_command("worker", "--batch")

    assert capsys.readouterr().out.strip() == "Ran 1 task(s) and made 0 delivery attempt(s)."
    order.refresh_from_db()
    assert (order.customer_name, str(order.customer_phone or "")) == ("", "")
    result = DBTaskResult.objects.get(task_path="orders.tasks.daily_purge")
    assert result.status == "SUCCESSFUL"
    assert "Purged personal data closed more than 30 days ago: 1 order" in result.return_value
