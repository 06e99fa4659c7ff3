"""Background tasks (Django's Tasks API): sending events, and raising ``line.expired`` on time.

Run by ``python manage.py db_worker`` on the database queue. Arguments are
plain ids, numbers and ISO strings, so another backend of the same API (RQ,
Celery) can carry them.

The delivery rows, not the queue, are the record of what is owed: each
attempt's task carries the delivery's generation, and a task that finds the
delivery delivered, failed or re-enqueued (another generation) does nothing.
A worker killed mid-task leaves its task "running" for ever; the sweep
runs such tasks again once they are older than any task of ours can be. So delivery is at least once, and in a run
where nothing fails, exactly once.
"""

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks import TaskResultStatus, task
from standardwebhooks.webhooks import Webhook

from numbermasking import metrics

from . import events
from .models import Delivery, DeliveryAttempt, DeliverySweep, EventType, Order

logger = logging.getLogger(__name__)

Status = Delivery.Status


def _lease() -> timedelta:
    # Longer than any attempt can take: the request's own timeout, and slack
    # for the database writes around it.
    return timedelta(seconds=settings.EVENTS_DELIVERY_TIMEOUT + 5)


@task()
def deliver(delivery_id: int, generation: int) -> str:
    """Send one delivery once: recorded, then delivered, retried later, or failed after the last retry."""
    now = timezone.now()
    # Claimed only if no live attempt holds it: a task run again after its worker died finds the lease run out.
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    claimed = Delivery.objects.filter(free, pk=delivery_id, generation=generation, status=Status.PENDING).update(
        lease_expires_at=now + _lease()
    )
    if not claimed:
        return "nothing to do"
    delivery = Delivery.objects.select_related("event", "endpoint").get(pk=delivery_id)
    status_code, error, latency_ms = _send(delivery)
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery, attempted_at=now, status_code=status_code, error=error, latency_ms=latency_ms
        )
        delivery.attempts += 1
        delivery.lease_expires_at = None
        if status_code is not None and 200 <= status_code < 300:
            delivery.status, delivery.delivered_at = Status.DELIVERED, timezone.now()
        elif delivery.attempts > len(settings.EVENTS_RETRY_SCHEDULE):
            delivery.status = Status.FAILED
            logger.warning(
                "delivery %s of %s failed after %d attempts", delivery.pk, delivery.event.id, delivery.attempts
            )
        else:
            delay = settings.EVENTS_RETRY_SCHEDULE[delivery.attempts - 1]
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            delivery.generation += 1
        delivery.save()
        if delivery.status == Status.PENDING:
            events.enqueue_delivery(delivery)
        transaction.on_commit(_count_attempt(delivery.status))
    arm_sweep()
    return delivery.status


def _count_attempt(status: str) -> Callable[[], None]:
    """What to count once the attempt's outcome is committed."""
    outcome = {Status.DELIVERED: "delivered", Status.FAILED: "failed"}.get(status, "retry")
    attempts = metrics.DELIVERY_ATTEMPTS.labels(outcome=outcome)
    final = {Status.DELIVERED: metrics.EVENTS_DELIVERED, Status.FAILED: metrics.EVENTS_FAILED}.get(status)

    def count() -> None:
        attempts.inc()
        if final is not None:
            final.inc()

    return count


def _send(delivery: Delivery) -> tuple[int | None, str, int]:
    """POST the event, signed; (status code or None, error, latency in ms). Never raises for the receiver's faults."""
    event = delivery.event
    body = json.dumps(event.payload, separators=(",", ":"))
    sent_at = datetime.now(tz=UTC)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "numbermasking-webhooks",
        "webhook-id": event.id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(delivery.endpoint.secret).sign(event.id, sent_at, body),
    }
    started = time.monotonic()
    try:
        # A redirect is not a delivery: the receiver must answer 2xx itself.
        response = requests.post(
            delivery.endpoint.url,
            data=body.encode(),
            headers=headers,
            timeout=settings.EVENTS_DELIVERY_TIMEOUT,
            allow_redirects=False,
        )
    except requests.Timeout:
        return None, "timed out", _ms_since(started)
    except requests.RequestException as error:
        # The type only: the text may quote the URL's credentials.
        return None, f"could not connect ({type(error).__name__})", _ms_since(started)
    response.close()
    return response.status_code, "", _ms_since(started)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def redeliver(delivery: Delivery) -> None:
    """Send a delivery again from the start of the schedule (the admin's "send again")."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
        delivery.status, delivery.attempts, delivery.generation = Status.PENDING, 0, delivery.generation + 1
        delivery.next_attempt_at, delivery.lease_expires_at, delivery.delivered_at = timezone.now(), None, None
        delivery.save()
        events.enqueue_delivery(delivery)


def _stale_after() -> timedelta:
    """How long a task may show as running before its worker is taken for dead: longer than any of ours takes."""
    return max(timedelta(seconds=settings.EVENTS_ORPHAN_AFTER), _lease() + timedelta(seconds=5))


@task()
def sweep_deliveries() -> int:
    """Run again the tasks of workers that died mid-task, then schedule the next sweep. Returns how many.

    The database queue marks a task running when a worker takes it, and
    nothing ever finishes it if that worker is killed. Every task of ours is
    safe to run twice (a delivery is claimed by its generation and lease, a
    line is expired once, a sweep dedupes itself), so one running for longer
    than any of ours can is marked failed and enqueued afresh.
    """
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()
    interval = timedelta(seconds=settings.EVENTS_SWEEP_INTERVAL)
    # Only one chain of sweeps: the sweep that moves next_at on is the one that schedules the next.
    if DeliverySweep.objects.filter(next_at__lte=now + interval / 2).update(next_at=now + interval):
        events.enqueue(sweep_deliveries, run_after=now + interval)
    dead = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, started_at__lt=now - _stale_after(), task_path__startswith=f"{__name__}."
    )
    count = 0
    for result in dead[:1000]:
        with transaction.atomic():
            if DBTaskResult.objects.filter(pk=result.pk, status=TaskResultStatus.RUNNING).update(
                status=TaskResultStatus.FAILED, finished_at=now
            ):
                import_string(result.task_path).enqueue(*result.args_kwargs["args"], **result.args_kwargs["kwargs"])
                count += 1
    if count:
        logger.warning("ran again %d task(s) whose worker died", count)
    return count


_sweep_armed_until = 0.0  # this process's monotonic clock: no need to look again before then


def arm_sweep() -> None:
    """Start the chain of sweeps if none is scheduled (first delivery, or its chain was lost with a worker).

    Looked at once per sweep interval per process, not on every delivery.
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
        events.enqueue(sweep_deliveries, run_after=now + interval)
    _sweep_armed_until = time.monotonic() + interval.total_seconds()


@task()
def check_line_expiry(order_id: int, expires_at: str) -> bool:
    """Raise ``line.expired`` if the order's line expired at ``expires_at`` (and was not closed or extended)."""
    expiry = datetime.fromisoformat(expires_at)
    order = (
        Order.objects.select_related("proxy_number")
        .filter(pk=order_id, masking_expires_at=expiry)
        .exclude(status=Order.Status.CANCELLED)  # closed, not expired: line.closed said so
        .first()
    )
    if order is None or expiry > timezone.now():
        return False
    return (
        events.emit(
            EventType.LINE_EXPIRED,
            events.order_data(order, expired_at=expires_at),
            dedupe_key=f"line.expired:{order.pk}:{expires_at}",
            occurred_at=expiry,
        )
        is not None
    )
