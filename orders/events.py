"""Events to the platform: recorded in the transaction of the change that caused them.

``emit`` writes the event, one delivery per endpoint that wants it, and the
task that will send each delivery, all in the caller's transaction: a change
that rolls back leaves no event, and a committed change always has its event.
The worker (``manage.py db_worker``) sends them (orders/tasks.py).

Event data never holds a party's phone number: the platform knows its
parties; references, the proxy number, roles, statuses and durations do.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .models import Delivery, Event, EventType, Order, WebhookEndpoint

# Events are numbered when inserted but become visible when their transaction
# commits; two overlapping transactions could commit out of number order, and
# a feed reader paging by number would skip the later-committed lower one.
# On Postgres this lock, held until commit, makes number order commit order.
# (SQLite runs one write transaction at a time.)
_EVENT_ORDER_LOCK = 0x6E6D_6576  # any constant shared by every process of the service


def emit(
    event_type: EventType,
    data: Mapping[str, object],
    *,
    dedupe_key: str | None = None,
    occurred_at: datetime | None = None,
) -> Event | None:
    """Record ``event_type`` with ``data`` and queue its deliveries; None when ``dedupe_key`` was raised before."""
    # Part of the caller's transaction (a new one if there is none), with no
    # savepoint of its own: the event commits or rolls back with the change.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_EVENT_ORDER_LOCK])
        event = Event(
            type=event_type, data=dict(data), dedupe_key=dedupe_key, occurred_at=occurred_at or timezone.now()
        )
        if dedupe_key is None:
            event.save()
        else:
            try:
                # The savepoint keeps a repeated cause from breaking the caller's transaction.
                with transaction.atomic():
                    event.save()
            except IntegrityError:
                return None
        endpoints = [
            endpoint for endpoint in WebhookEndpoint.objects.filter(is_active=True) if endpoint.wants(event_type)
        ]
        deliveries = Delivery.objects.bulk_create(
            [Delivery(event=event, endpoint=endpoint, next_attempt_at=event.occurred_at) for endpoint in endpoints]
        )
        for delivery in deliveries:
            enqueue_delivery(delivery)
    return event


def enqueue_delivery(delivery: Delivery) -> None:
    """Queue the attempt ``delivery`` is due for, in the current transaction where the queue allows it."""
    from .tasks import deliver

    enqueue(deliver, delivery.pk, delivery.generation, run_after=delivery.next_attempt_at)


def enqueue(task, *args: object, run_after: datetime | None = None) -> None:
    """Enqueue ``task``: atomically with the caller's transaction on the database queue, after commit on others.

    The database backend writes the task row in the same transaction, so it
    commits or rolls back with the change. A queue outside the database (RQ,
    Celery) could run the task before the change commits, so it is handed the
    task on commit; the sweep (orders/tasks.py) picks up anything lost there.
    """
    from django_tasks_db.backend import DatabaseBackend

    if run_after is not None and run_after > timezone.now():
        task = task.using(run_after=run_after)
    if isinstance(task.get_backend(), DatabaseBackend):
        task.enqueue(*args)
    else:
        transaction.on_commit(partial(task.enqueue, *args))


def order_data(order: Order, **extra: object) -> dict[str, object]:
    """What every order event says about its order: reference and proxy number, no party's phone."""
    proxy_number = str(order.proxy_number.number) if order.proxy_number_id else None
    return {"reference": order.reference, "proxy_number": proxy_number, **extra}


def line_expiry_scheduled(order: Order) -> None:
    """Schedule the ``line.expired`` check for the order's current expiry."""
    from .tasks import check_line_expiry

    if order.masking_expires_at is not None:
        enqueue(check_line_expiry, order.pk, order.masking_expires_at.isoformat(), run_after=order.masking_expires_at)


def prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete events, their deliveries, and finished task rows older than ``EVENTS_RETENTION_DAYS``.

    By then every delivery has ended: the last retry comes about 33 hours after the event.
    """
    from django_tasks_db.models import DBTaskResult

    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    old_events = Event.objects.filter(occurred_at__lt=cutoff).exclude(deliveries__status=Delivery.Status.PENDING)
    _, deleted = old_events.delete()
    tasks, _ = DBTaskResult.objects.filter(finished_at__lt=cutoff).delete()
    return {"events": deleted.get(Event._meta.label, 0), "finished tasks": tasks}
