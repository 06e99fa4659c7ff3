"""Sending deliveries: claimed in batches, sent per endpoint over kept-alive connections, recorded in bulk.

One loop per worker process (``manage.py worker``) does it:

1. **Claim** up to BATCH due deliveries with ``SELECT … FOR UPDATE SKIP
   LOCKED`` and a lease, as healthchecks' ``sendalerts`` claims its work, so
   any number of workers share one queue and none waits for another.
2. **Send** each endpoint's share in a thread of its own, one after another
   over one connection, each attempt within EVENTS_DELIVERY_TIMEOUT of wall
   clock (orders/events/transport.py). A slow endpoint holds its own thread,
   not the others'. The lease is always longer than what a batch may take:
   an attempt that could not end before the lease does is not started.
3. **Record** the attempts and outcomes in one transaction per batch.

An endpoint that fails is backed off as a whole, like a circuit breaker: its
next attempt (one delivery, the "probe") waits for the next step of the
retry schedule, or for the Retry-After it sent, however many deliveries wait
behind it. A success closes it again. A 410 Gone, or failing for
EVENTS_DISABLE_AFTER, disables it; a disabled, deactivated or deleted
endpoint gets no more attempts, and its waiting deliveries end as failed.

Delivery is at least once: a worker that dies mid-batch leaves leases that
run out, and another worker sends those deliveries again.
"""

import json
import logging
import queue
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from numbermasking import metrics

from ..errors import ServiceError
from .emit import wake_deliveries
from .models import Delivery, DeliveryAttempt, WebhookEndpoint
from .transport import Answer, Sender

logger = logging.getLogger(__name__)

Status = Delivery.Status

BATCH = 100
# An attempt starts only when its deadline falls this long before the lease ends.
LEASE_MARGIN = 5.0
# Receivers that say when to come back: not before then (capped by EVENTS_RETRY_AFTER_MAX).
RETRY_AFTER_STATUSES = frozenset({429, 502, 503, 504})


def lease_seconds() -> float:
    """How long a claim holds its deliveries: room for two whole attempts, and slack for the writes around them."""
    return 2 * settings.EVENTS_DELIVERY_TIMEOUT + 10


def retry_delay(step: int, answer: Answer | None = None) -> float:
    """Seconds before retry ``step`` (1-based) on the schedule, or later if the receiver said so.

    The schedule's last step repeats.
    """
    schedule = settings.EVENTS_RETRY_SCHEDULE
    delay = float(schedule[min(step, len(schedule)) - 1])
    if answer is not None and answer.status in RETRY_AFTER_STATUSES and answer.retry_after is not None:
        delay = max(delay, min(answer.retry_after, settings.EVENTS_RETRY_AFTER_MAX))
    return delay


@dataclass(frozen=True)
class Due:
    """A claimed delivery: what sending and recording it need, read in one query with its event."""

    pk: int
    attempts: int
    event_id: str
    event_type: str
    occurred_at: datetime
    data: dict

    @property
    def payload(self) -> dict:
        return {
            "id": self.event_id,
            "type": self.event_type,
            "occurred_at": self.occurred_at.isoformat(),
            "data": self.data,
        }


@dataclass
class Claim:
    """Deliveries to one endpoint that one worker holds until ``lease_ends`` (time.monotonic())."""

    token: str
    endpoint: WebhookEndpoint
    deliveries: list[Due]
    lease_ends: float


def _due(now: datetime, busy_endpoints: Iterable[int]) -> "Q":
    return (
        Q(status=Status.PENDING, next_attempt_at__lte=now, endpoint__is_active=True)
        & (Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        & (Q(endpoint__retry_at__isnull=True) | Q(endpoint__retry_at__lte=now))
        & ~Q(endpoint_id__in=list(busy_endpoints))
    )


def claim(*, limit: int = BATCH, busy_endpoints: Iterable[int] = ()) -> list[Claim]:
    """Take up to ``limit`` due deliveries, grouped by endpoint; endpoints in ``busy_endpoints`` are left alone."""
    now = timezone.now()
    token = secrets.token_hex(8)
    lease = lease_seconds()
    lease_ends = time.monotonic() + lease
    due = _due(now, busy_endpoints)
    with transaction.atomic():
        _lazy_commit()
        ids = list(
            Delivery.objects.filter(due)
            .order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        mine = Delivery.objects.filter(pk__in=ids)
        if not connection.features.has_select_for_update_skip_locked:
            # The same conditions again: without SKIP LOCKED (SQLite) another worker may have
            # claimed some of these since; the token says which are ours.
            mine = mine.filter(due)
        mine.update(lease_expires_at=now + timedelta(seconds=lease), claimed_by=token)
    # Plain rows, not models: this runs for every batch.
    rows = (
        Delivery.objects.filter(pk__in=ids, claimed_by=token)
        .order_by("pk")
        .values_list("pk", "attempts", "endpoint_id", "event__id", "event__type", "event__occurred_at", "event__data")
    )
    by_endpoint: dict[int, list[Due]] = defaultdict(list)
    for pk, attempts, endpoint_id, *event in rows:
        by_endpoint[endpoint_id].append(Due(pk, attempts, *event))
    endpoints = WebhookEndpoint.objects.in_bulk(list(by_endpoint))
    claims = []
    for endpoint_id, deliveries_of_endpoint in by_endpoint.items():
        endpoint = endpoints[endpoint_id]
        if endpoint.retry_at is not None:
            deliveries_of_endpoint = _probe(endpoint, deliveries_of_endpoint, token, now, lease)
        if deliveries_of_endpoint:
            claims.append(Claim(token, endpoint, deliveries_of_endpoint, lease_ends))
    return claims


def _probe(endpoint: WebhookEndpoint, deliveries: list[Due], token: str, now: datetime, lease: float) -> list[Due]:
    """A backed-off endpoint gets one attempt per step: keep the first delivery as the probe, if no one else has."""
    probe, rest = deliveries[:1], deliveries[1:]
    taken = WebhookEndpoint.objects.filter(pk=endpoint.pk, retry_at=endpoint.retry_at).update(
        retry_at=now + timedelta(seconds=lease)
    )
    if not taken:
        probe, rest = [], deliveries
    release(rest, token)
    return probe


def _lazy_commit() -> None:
    """This transaction's commit does not wait for the WAL flush (Postgres).

    Claims and records are bookkeeping that a database crash may lose the
    last fraction of a second of, never corrupt: a lost claim's lease or a
    lost record only means a delivery is sent again, which at-least-once
    delivery allows. Orders, events and the deliveries owed keep durable
    commits.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def release(deliveries: Iterable[Due], token: str) -> None:
    """Give back claimed deliveries that were not attempted."""
    ids = [delivery.pk for delivery in deliveries]
    if ids:
        Delivery.objects.filter(pk__in=ids, claimed_by=token).update(lease_expires_at=None, claimed_by="")


@dataclass(frozen=True)
class Attempt:
    delivery: Due
    attempted_at: datetime
    answer: Answer


def body_and_headers(due: Due, signer: Webhook) -> tuple[bytes, dict[str, str]]:
    """The event as Standard Webhooks sends it: JSON, with its id, timestamp and signature headers."""
    body = json.dumps(due.payload, separators=(",", ":"))
    sent_at = datetime.now(tz=UTC)
    return body.encode(), {
        "Content-Type": "application/json",
        "User-Agent": "numbermasking-webhooks",
        "webhook-id": due.event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signer.sign(due.event_id, sent_at, body),
    }


# How often a batch in flight looks whether its endpoint was deactivated or deleted meanwhile.
_RECHECK_EVERY = 1.0


def send(claim: Claim, sender: Sender) -> Iterator[Attempt]:
    """Send the claim's deliveries in order; stop at the first failure (the endpoint backs off) or near the lease."""
    timeout = settings.EVENTS_DELIVERY_TIMEOUT
    signer = Webhook(claim.endpoint.secret)
    checked_at = time.monotonic()
    for delivery in claim.deliveries:
        started = time.monotonic()
        if started + timeout + LEASE_MARGIN > claim.lease_ends:
            return
        if started - checked_at > _RECHECK_EVERY:
            if not WebhookEndpoint.objects.filter(pk=claim.endpoint.pk, is_active=True).exists():
                return
            checked_at = started
        body, headers = body_and_headers(delivery, signer)
        attempted_at = timezone.now()
        answer = sender.post(body, headers, timeout=timeout)
        yield Attempt(delivery, attempted_at, answer)
        if not answer.delivered:
            return


def record(claim: Claim, attempts: list[Attempt], *, unsent: Iterable[Due] = ()) -> None:
    """Log each attempt and settle its delivery, and give back ``unsent`` ones, in one transaction.

    Deliveries that are gone (their endpoint was deleted) or no longer ours
    (the endpoint was disabled meanwhile) are skipped, not written.
    """
    now = timezone.now()
    attempted = {attempt.delivery.pk: attempt for attempt in attempts}
    unsent = list(unsent)
    if not attempted and not unsent:
        return
    with transaction.atomic():
        _lazy_commit()
        ours = set(
            Delivery.objects.select_for_update()
            .filter(pk__in=[*attempted, *(delivery.pk for delivery in unsent)], claimed_by=claim.token)
            .values_list("pk", flat=True)
        )
        logged = [attempt for pk, attempt in attempted.items() if pk in ours]
        DeliveryAttempt.objects.bulk_create(
            DeliveryAttempt(
                delivery_id=attempt.delivery.pk,
                attempted_at=attempt.attempted_at,
                status_code=attempt.answer.status,
                error=attempt.answer.error,
                latency_ms=attempt.answer.latency_ms,
            )
            for attempt in logged
        )
        delivered = [attempt.delivery.pk for attempt in logged if attempt.answer.delivered]
        if delivered:
            Delivery.objects.filter(pk__in=delivered).update(
                status=Status.DELIVERED,
                delivered_at=now,
                attempts=F("attempts") + 1,
                lease_expires_at=None,
                claimed_by="",
            )
        failures = [attempt for attempt in logged if not attempt.answer.delivered]
        given_up = sum(_retry_or_fail(attempt, now) for attempt in failures)
        release(unsent, claim.token)
        if failures:
            _endpoint_failed(claim.endpoint, failures[-1].answer, now)
        elif delivered and claim.endpoint.retry_at is not None:
            _endpoint_recovered(claim.endpoint)
            claim.endpoint.retry_at = None
        transaction.on_commit(_counter(len(delivered), len(failures) - given_up, given_up))


def _retry_or_fail(attempt: Attempt, now: datetime) -> bool:
    """Schedule the delivery's next attempt, or end it as failed after the last; True when it failed for good."""
    delivery, answer = attempt.delivery, attempt.answer
    attempts = delivery.attempts + 1
    fields: dict[str, object] = {"attempts": attempts, "lease_expires_at": None, "claimed_by": ""}
    if attempts > len(settings.EVENTS_RETRY_SCHEDULE):
        fields.update(status=Status.FAILED, failure_reason=f"gave up after {attempts} attempts")
        logger.warning("delivery %s of %s failed after %d attempts", delivery.pk, delivery.event_id, attempts)
    else:
        fields["next_attempt_at"] = now + timedelta(seconds=retry_delay(attempts, answer))
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    return fields.get("status") == Status.FAILED


def _endpoint_failed(endpoint: WebhookEndpoint, answer: Answer, now: datetime) -> None:
    """Back the endpoint off one more step, or disable it (410 Gone, or failing for EVENTS_DISABLE_AFTER)."""
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
    if endpoint is None or not endpoint.is_active:
        return
    if answer.status == 410:
        disable(endpoint, "the endpoint answered 410 Gone", kind="gone", now=now)
        return
    failing_since = endpoint.failing_since or now
    if now - failing_since >= timedelta(seconds=settings.EVENTS_DISABLE_AFTER):
        days = settings.EVENTS_DISABLE_AFTER / 86400
        disable(endpoint, f"every attempt failed for {days:g} days", kind="failing", now=now)
        return
    endpoint.failure_count += 1
    endpoint.failing_since = failing_since
    endpoint.retry_at = now + timedelta(seconds=retry_delay(endpoint.failure_count, answer))
    endpoint.save(update_fields=["failure_count", "failing_since", "retry_at"])


def _endpoint_recovered(endpoint: WebhookEndpoint) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failure_count=0, failing_since=None, retry_at=None)


def disable(endpoint: WebhookEndpoint, reason: str, *, kind: str, now: datetime | None = None) -> None:
    """Turn the endpoint off, say why, and end its waiting deliveries as failed."""
    now = now or timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_at=now, disabled_reason=reason[:200], failure_count=0, retry_at=None
    )
    fail_pending(Delivery.objects.filter(endpoint=endpoint), f"endpoint disabled: {reason}")
    logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)
    transaction.on_commit(metrics.ENDPOINTS_DISABLED.labels(reason=kind).inc)


def fail_pending(deliveries, reason: str) -> int:
    """End the waiting ones among ``deliveries`` as failed, with ``reason``; how many."""
    return deliveries.filter(status=Status.PENDING).update(
        status=Status.FAILED, failure_reason=reason[:200], lease_expires_at=None, claimed_by=""
    )


def fail_deactivated() -> int:
    """Staff deactivated an endpoint: its waiting deliveries end, they are not sent later."""
    return fail_pending(Delivery.objects.filter(endpoint__is_active=False), "endpoint deactivated")


def _counter(delivered: int, retried: int, failed: int) -> Callable[[], None]:
    """What to count once a batch's outcome is committed."""

    def count() -> None:
        for outcome, number in (("delivered", delivered), ("retry", retried), ("failed", failed)):
            if number:
                metrics.DELIVERY_ATTEMPTS.labels(outcome=outcome).inc(number)
        if delivered:
            metrics.EVENTS_DELIVERED.inc(delivered)
        if failed:
            metrics.EVENTS_FAILED.inc(failed)

    return count


def recover(endpoint: WebhookEndpoint, since: datetime) -> int:
    """Send again the endpoint's failed deliveries of events since ``since``, from the start of the schedule."""
    if not endpoint.is_active:
        raise ServiceError(
            "Webhook endpoint %(pk)s is not active: turn it on first, then recover its deliveries.",
            code="endpoint_inactive",
            status=409,
            params={"pk": endpoint.pk},
        )
    with transaction.atomic():
        count = (
            Delivery.objects.filter(endpoint=endpoint, status=Status.FAILED, event__occurred_at__gte=since)
            .order_by()
            .update(**_fresh(timezone.now()))
        )
        if count:
            wake_deliveries()
    return count


def reactivate(endpoint: WebhookEndpoint) -> None:
    """Turned on again by staff: it starts healthy, with no trace of why it was off."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=True, disabled_at=None, disabled_reason="", failure_count=0, failing_since=None, retry_at=None
    )
    endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since, endpoint.retry_at = None, "", None, None
    endpoint.failure_count = 0


def send_again(deliveries) -> int:
    """Send the given deliveries again from the start of the schedule (the admin's "send again")."""
    with transaction.atomic():
        count = deliveries.order_by().update(**_fresh(timezone.now()))
        if count:
            wake_deliveries()
    return count


def _fresh(now: datetime) -> dict[str, object]:
    return {
        "status": Status.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_expires_at": None,
        "claimed_by": "",
        "delivered_at": None,
        "failure_reason": "",
    }


class Senders:
    """Idle kept-alive connections of this process, by endpoint URL, for the next batches to the same place."""

    IDLE_SECONDS = 30.0

    def __init__(self) -> None:
        self._idle: dict[tuple[int, str], list[Sender]] = defaultdict(list)
        self._lock = threading.Lock()

    def take(self, endpoint: WebhookEndpoint) -> Sender:
        with self._lock:
            idle = self._idle.get((endpoint.pk, endpoint.url))
            sender = idle.pop() if idle else None
        return sender or Sender(endpoint.url)

    def give_back(self, endpoint: WebhookEndpoint, sender: Sender) -> None:
        with self._lock:
            self._idle[(endpoint.pk, endpoint.url)].append(sender)

    def close_idle(self, idle_for: float = IDLE_SECONDS) -> None:
        now = time.monotonic()
        stale: list[Sender] = []
        with self._lock:
            for key, senders in list(self._idle.items()):
                stale += [sender for sender in senders if now - sender.used_at >= idle_for]
                kept = [sender for sender in senders if now - sender.used_at < idle_for]
                if kept:
                    self._idle[key] = kept
                else:
                    del self._idle[key]
        for sender in stale:
            sender.close()

    def close_all(self) -> None:
        self.close_idle(idle_for=float("-inf"))


# Attempts are recorded every RECORD_EVERY of them (or RECORD_AFTER seconds), not only at the end of a
# batch: a worker killed mid-batch then sends again at most that many deliveries it had sent.
RECORD_EVERY = 100
RECORD_AFTER = 0.5


@dataclass(frozen=True)
class Sent:
    """What a batch came to: how many attempts it made, and whether the last of them failed."""

    attempts: int
    failed: bool


def work(claim: Claim, senders: Senders, recorder: "Recorder | None" = None) -> Sent:
    """Send one claim's deliveries and have them recorded (by ``recorder``'s thread, or here and now).

    Whatever goes wrong, every delivery of the claim is recorded or given back.
    """
    write = recorder.record if recorder is not None else record
    sender = senders.take(claim.endpoint)
    made: list[Attempt] = []
    unrecorded: list[Attempt] = []
    recorded_at = time.monotonic()
    try:
        for attempt in send(claim, sender):
            made.append(attempt)
            unrecorded.append(attempt)
            if len(unrecorded) >= RECORD_EVERY or time.monotonic() - recorded_at >= RECORD_AFTER:
                write(claim, unrecorded)
                unrecorded, recorded_at = [], time.monotonic()
    finally:
        senders.give_back(claim.endpoint, sender)
        attempted = {attempt.delivery.pk for attempt in made}
        write(claim, unrecorded, unsent=[delivery for delivery in claim.deliveries if delivery.pk not in attempted])
    return Sent(len(made), bool(made) and not made[-1].answer.delivered)


class Recorder:
    """Records attempts in a thread of its own, in the order they were handed in, so sending never waits on it.

    Attempts handed in while it writes are written together next. A database
    error loses only the record: those deliveries' leases run out and they
    are sent again.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="record", daemon=True)
        self._thread.start()

    def record(self, claim: Claim, attempts: list[Attempt], *, unsent: Iterable[Due] = ()) -> None:
        self._queue.put((claim, list(attempts), list(unsent)))

    def stop(self) -> None:
        """Write what was handed in, then end the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get())
            stopping = items[-1] is None
            for claim, attempts, unsent in _merged([item for item in items if item is not None]):
                self._record(claim, attempts, unsent)
            if stopping:
                return

    def _record(self, claim: Claim, attempts: list[Attempt], unsent: list[Due]) -> None:
        # Once more on a new connection if the database failed: this thread's connection may have died
        # while the database was away, and what is not recorded is sent again.
        for last_try in (False, True):
            close_old_connections()
            try:
                record(claim, attempts, unsent=unsent)
                return
            except DatabaseError as error:
                connection.close()
                if last_try:
                    logger.warning(
                        "attempts to endpoint %s not recorded: the database is unavailable (%s)",
                        claim.endpoint.pk,
                        type(error).__name__,
                    )
            except Exception:
                logger.exception("attempts to endpoint %s not recorded", claim.endpoint.pk)
                connection.close()
                return


def _merged(items: list[tuple[Claim, list[Attempt], list[Due]]]) -> list[tuple[Claim, list[Attempt], list]]:
    """Consecutive pieces of one claim as one: one transaction writes them all."""
    merged: list[tuple[Claim, list[Attempt], list]] = []
    for claim, attempts, unsent in items:
        if merged and merged[-1][0] is claim and not merged[-1][2]:
            merged[-1] = (claim, merged[-1][1] + attempts, unsent)
        else:
            merged.append((claim, attempts, unsent))
    return merged


def deliver_due(senders: Senders | None = None) -> int:
    """Send everything due now, one claim after another in this thread; how many attempts were made.

    For tests and one-off runs; the worker's loop (orders/events/worker.py) does the same concurrently.
    """
    senders = senders or Senders()
    made = 0
    fail_deactivated()
    try:
        while claims := claim():
            made += sum(work(one, senders).attempts for one in claims)
    finally:
        senders.close_all()
    return made
