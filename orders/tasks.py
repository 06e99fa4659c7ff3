"""One-off background tasks on Django's Tasks API: raising ``line.expired`` on time, the sweep and the daily purge.

Run by ``python manage.py worker`` on the database queue (voice has its own:
click-to-call, deleting recordings). Arguments are plain ids, numbers and ISO
strings, so another backend of the same API (RQ, Celery) can carry them.
Event deliveries are not tasks: the worker's delivery loop sends them
(orders/events/delivery.py).

A worker killed mid-task leaves its task "running" for ever; the sweep runs
such tasks again once they are older than any task of ours can be. Every
task here is safe to run twice.
"""

import logging
import time
from datetime import datetime, timedelta
from datetime import time as time_of_day
from functools import partial
from io import StringIO

from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks import TaskResultStatus, task

from .events import emit, line_data
from .models import DeliverySweep, EventType, Line, Order

logger = logging.getLogger(__name__)

# Tasks the sweep may run again: those whose modules say they are safe to run twice.
SWEPT_MODULES = ("orders.tasks.", "voice.tasks.")


def enqueue(task, *args: object, run_after: datetime | None = None) -> None:
    """Enqueue ``task``: atomically with the caller's transaction on the database queue, after commit on others.

    The database backend writes the task row in the same transaction, so it
    commits or rolls back with the change. A queue outside the database (RQ,
    Celery) could run the task before the change commits, so it is handed the
    task on commit; the sweep picks up anything lost there.
    """
    from django_tasks_db.backend import DatabaseBackend

    if run_after is not None and run_after > timezone.now():
        task = task.using(run_after=run_after)
    if isinstance(task.get_backend(), DatabaseBackend):
        task.enqueue(*args)
    else:
        transaction.on_commit(partial(task.enqueue, *args))


def line_expiry_scheduled(line: Line) -> None:
    """Schedule the ``line.expired`` check for the line's current expiry."""
    if line.expires_at is not None:
        enqueue(check_expiry_of_line, line.pk, line.expires_at.isoformat(), run_after=line.expires_at)


@task()
def check_expiry_of_line(line_id: int, expires_at: str) -> bool:
    """Raise ``line.expired`` if the line expired at ``expires_at`` (and was not closed early or extended)."""
    return _line_expired(Line.objects.filter(pk=line_id), expires_at)


@task()
def check_line_expiry(order_id: int, expires_at: str) -> bool:
    """The check as queued before orders had several lines: it was about the customer–agent line."""
    return _line_expired(Line.objects.filter(order_id=order_id, kind=Line.Kind.CUSTOMER_AGENT), expires_at)


def _line_expired(lines, expires_at: str) -> bool:
    expiry = datetime.fromisoformat(expires_at)
    line = (
        lines.select_related("order", "proxy_number")
        .filter(expires_at=expiry)
        .exclude(order__status=Order.Status.CANCELLED)  # closed: line.closed said so
        .first()
    )
    if line is None or expiry > timezone.now():
        return False
    # The customer–agent line keeps the key its order's expiry had, so an old and a new check raise it once.
    kind = "" if line.kind == Line.Kind.CUSTOMER_AGENT else f"{line.kind}:"
    return (
        emit(
            EventType.LINE_EXPIRED,
            line_data(line, expired_at=expires_at),
            dedupe_key=f"line.expired:{line.order_id}:{kind}{expires_at}",
            occurred_at=expiry,
        )
        is not None
    )


@task()
def deliver(delivery_id: int, generation: int) -> str:
    """Kept so that delivery tasks queued before the upgrade end cleanly: the delivery loop sends every delivery."""
    return "sent by the worker's delivery loop"


def prune_finished_tasks() -> int:
    """Delete finished task rows older than ``EVENTS_RETENTION_DAYS`` with the library's own command; how many."""
    from django_tasks_db.models import DBTaskResult

    days = settings.EVENTS_RETENTION_DAYS
    old = DBTaskResult.objects.finished().filter(finished_at__lte=timezone.now() - timedelta(days=days)).count()
    call_command("prune_db_task_results", queue_name="*", min_age_days=days, verbosity=0)
    return old


def _stale_after() -> timedelta:
    """How long a task may show as running before its worker is taken for dead: longer than any of ours takes."""
    return timedelta(seconds=settings.EVENTS_ORPHAN_AFTER)


@task()
def sweep_tasks() -> int:
    """Run again the tasks of workers that died mid-task, then schedule the next sweep. Returns how many.

    The database queue marks a task running when a worker takes it, and
    nothing ever finishes it if that worker is killed. Every task of ours is
    safe to run twice, so one running for longer than any of ours can is
    marked failed and enqueued afresh.
    """
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()
    interval = timedelta(seconds=settings.EVENTS_SWEEP_INTERVAL)
    # Only one chain of sweeps: the sweep that moves next_at on is the one that schedules the next.
    if DeliverySweep.objects.filter(next_at__lte=now + interval / 2).update(next_at=now + interval):
        enqueue(sweep_tasks, run_after=now + interval)
    dead = DBTaskResult.objects.running().filter(started_at__lt=now - _stale_after())
    count = 0
    for result in dead[:1000]:
        if not result.task_path.startswith(SWEPT_MODULES):
            continue
        with transaction.atomic():
            if (
                DBTaskResult.objects.running()
                .filter(pk=result.pk)
                .update(status=TaskResultStatus.FAILED, finished_at=now)
            ):
                import_string(result.task_path).enqueue(*result.args_kwargs["args"], **result.args_kwargs["kwargs"])
                count += 1
    if count:
        logger.warning("ran again %d task(s) whose worker died", count)
    return count


# The name the sweep had before event deliveries left the task queue: a sweep queued then still runs.
sweep_deliveries = sweep_tasks

_sweep_armed_until = 0.0  # this process's monotonic clock: no need to look again before then


def arm_sweep() -> None:
    """Start the chain of sweeps if none is scheduled (first start, or its chain was lost with a worker).

    Looked at once per sweep interval per process.
    """
    global _sweep_armed_until
    if time.monotonic() < _sweep_armed_until:
        return
    now = timezone.now()
    interval = timedelta(seconds=settings.EVENTS_SWEEP_INTERVAL)
    sweep, _ = DeliverySweep.objects.get_or_create(pk=1, defaults={"next_at": now - 2 * interval})
    if sweep.next_at < now - interval and DeliverySweep.objects.filter(pk=1, next_at=sweep.next_at).update(
        next_at=now + interval
    ):
        enqueue(sweep_tasks, run_after=now + interval)
    _sweep_armed_until = time.monotonic() + interval.total_seconds()


# The DeliverySweep row that holds when the next daily purge is due (the sweep's own row is 1).
PURGE_ROW = 2


def purge_time() -> time_of_day | None:
    """``MASKING_PURGE_AT`` ("03:30", in TIME_ZONE) as a time of day; None when empty (no daily purge).

    A value that is not HH:MM raises ValueError; the system check orders.E007 says so at start-up.
    """
    text = settings.MASKING_PURGE_AT.strip()
    if not text:
        return None
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"not a time of day as HH:MM: {text!r}")
    return time_of_day(int(hours), int(minutes))


def next_purge_at(now: datetime) -> datetime | None:
    """The first ``MASKING_PURGE_AT`` strictly after ``now``, in TIME_ZONE; None when the daily purge is off."""
    at = purge_time()
    if at is None:
        return None
    local = timezone.localtime(now)
    due = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    # Adding a day keeps the wall-clock time across a daylight-saving change.
    return due if due > local else due + timedelta(days=1)


def schedule_purge(now: datetime | None = None) -> bool:
    """Queue the daily purge when it is due; True when this call queued it.

    Every worker calls this on its sweep loop (orders/management/commands/worker.py),
    so no cron is needed. The schedule's row holds the next time; the worker
    whose update moves it on queues the purge, so several workers queue it
    once. A worker that was down past the time queues it when it comes back;
    a changed MASKING_PURGE_AT moves the next time at once.
    """
    now = now or timezone.now()
    upcoming = next_purge_at(now)
    if upcoming is None:
        return False
    schedule, created = DeliverySweep.objects.get_or_create(pk=PURGE_ROW, defaults={"next_at": upcoming})
    if created:
        return False  # the first purge is at the next MASKING_PURGE_AT, not at first start
    if schedule.next_at > now:
        if schedule.next_at != upcoming:
            DeliverySweep.objects.filter(pk=PURGE_ROW, next_at=schedule.next_at).update(next_at=upcoming)
        return False
    with transaction.atomic():
        if not DeliverySweep.objects.filter(pk=PURGE_ROW, next_at=schedule.next_at).update(next_at=upcoming):
            return False  # another worker took it
        enqueue(daily_purge)
    return True


@task()
def daily_purge() -> str:
    """Run ``purge_personal_data`` with its defaults, as the data retention policy asks daily; its summary.

    Safe to run twice: a second run finds nothing new. The summary holds counts only.
    """
    out = StringIO()
    call_command("purge_personal_data", stdout=out)
    summary = " ".join(out.getvalue().split())
    logger.info("daily purge: %s", summary)
    return summary
