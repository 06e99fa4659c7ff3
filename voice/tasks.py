"""Voice's work on the task queue (``manage.py worker``): placing click-to-calls, callbacks the database
failed, and deleting recordings.

Every request to Plivo's REST API is made here (or by a command), never in a
web request, and never with a transaction or row lock open: the database work
before and after each request is its own short transaction.

Click-to-call: ``place_call`` takes a reservation that ``click_to_call.request_call``
stored, asks Plivo's Call API once, and records what came of it. Plivo
unavailable (no connection, no answer within PLIVO_CONNECT_TIMEOUT /
PLIVO_READ_TIMEOUT, any 5xx) is tried again after each of
``PLACE_CALL_RETRY_DELAYS``; a refusal is not. A reservation that ends without
a call raises ``call.not_placed``.

Callbacks: a callback that only records what happened (a hangup, a dial
status, a recording or voicemail) and met a database error when Plivo sent
it is queued by its webhook (voice.plivo.webhook, ``OnDatabaseError.QUEUE``) and
recorded here by the same service function, from the same query and form.

Recordings: Plivo holds the media; we hold its id and URL. A recording's URL
is cleared only after Plivo confirmed the deletion (or answered 404: already
gone), so the admin and the platform never get a URL whose media is gone, and
a Plivo failure never loses track of media still stored there: the task tries
again later, and the next ``purge_personal_data`` queues it again after that.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django_tasks import task

from numbermasking import metrics
from orders.models import Role
from orders.tasks import enqueue

from . import calls, click_to_call, records
from .models import ClickToCall, Recording
from .plivo import client as plivo_client
from .plivo import params, xml

logger = logging.getLogger(__name__)

# Seconds before each new try after a Plivo failure (after the last, the next
# daily purge queues it again), or after a database error while recording a
# queued callback.
RETRY_DELAYS = (60, 600, 3600, 6 * 3600)
# Seconds before each new request to Plivo's Call API after Plivo was
# unavailable: four requests in all, the last about 40 s after the first, while
# the party is still likely to be waiting; then the reservation is "failed".
PLACE_CALL_RETRY_DELAYS = (2, 8, 30)

State = ClickToCall.State


@task()
def place_call(click_to_call_pk: int, attempt: int = 0) -> str:
    """Ask Plivo to ring a reserved click-to-call's first party: placed, retried later, refused, failed or cancelled.

    ``attempt`` counts the requests already made. The reservation is claimed
    by a conditional update (queued, with that many attempts, becomes
    placing), so a task run twice asks Plivo once.
    """
    reservation = (
        ClickToCall.objects.select_related("order__agent")
        .filter(pk=click_to_call_pk, state=State.QUEUED, attempts=attempt)
        .first()
    )
    if reservation is None:
        return _end_if_abandoned(click_to_call_pk, attempt)
    order = reservation.order
    first, to = Role(reservation.first_role), reservation.callee_role
    try:
        # Again, without a lock: the line may have closed, the agent gone, a party been blocked since.
        click_to_call.check_callable(order, first, to)
    except ValidationError as error:
        click_to_call.end(reservation, State.CANCELLED, error.code, " ".join(error.messages), attempts=attempt)
        return "cancelled"
    claimed = ClickToCall.objects.filter(pk=reservation.pk, state=State.QUEUED, attempts=attempt).update(
        state=State.PLACING, attempts=attempt + 1, updated_at=timezone.now()
    )
    if not claimed:
        return "nothing to do"
    line = click_to_call.call_line(order, first, to)
    try:
        request_uuid = plivo_client.start_call(
            plivo_client.connect(),
            from_=str(line.proxy_number.number),
            to=order.phone_of(first),
            answer_url=xml.webhook_url("voice:bridge", order=order.pk, first=first.value, to=to.value),
            hangup_url=xml.webhook_url("voice:hangup", order=order.pk, first=first.value, to=to.value),
            time_limit=settings.MASKING_CALL_TIME_LIMIT,
            ring_timeout=settings.MASKING_RING_TIMEOUT,
        )
    except plivo_client.PlivoUnavailable as error:
        return _unavailable(reservation, attempt + 1, str(error))
    except plivo_client.PlivoAPIError as error:
        click_to_call.end(reservation, State.REFUSED, "plivo_refused", str(error), attempts=attempt + 1)
        return "refused"
    now = timezone.now()
    with transaction.atomic():
        if ClickToCall.objects.filter(pk=reservation.pk, state=State.PLACING, attempts=attempt + 1).update(
            state=State.PLACED, request_uuid=request_uuid, placed_at=now, updated_at=now, detail=""
        ):
            transaction.on_commit(metrics.CLICK_TO_CALLS.labels(state=State.PLACED).inc)
    logger.info("click-to-call %s placed: Plivo request %s", reservation.public_id, request_uuid)
    return "placed"


def _end_if_abandoned(click_to_call_pk: int, attempt: int) -> str:
    """A task run again by the sweep: its worker died while asking Plivo, so the reservation stayed "placing".

    It is not asked again (Plivo may have rung the party already) but ended
    as failed, with its event, once it is older than any request to Plivo can be.
    """
    stale = timezone.now() - timedelta(seconds=settings.PLIVO_CONNECT_TIMEOUT + settings.PLIVO_READ_TIMEOUT + 30)
    reservation = (
        ClickToCall.objects.select_related("order")
        .filter(pk=click_to_call_pk, state=State.PLACING, attempts=attempt + 1, updated_at__lt=stale)
        .first()
    )
    if reservation is None:
        return "nothing to do"
    detail = "The worker stopped while asking Plivo; the call may or may not have been placed."
    click_to_call.end(reservation, State.FAILED, "plivo_unavailable", detail, attempts=attempt + 1)
    return "failed"


def _unavailable(reservation: ClickToCall, attempts: int, error: str) -> str:
    """After ``attempts`` requests found Plivo unavailable: queue the next one, or end the reservation as failed."""
    if attempts > len(PLACE_CALL_RETRY_DELAYS):
        detail = f"Plivo was unavailable {attempts} times; the call was not placed. Last: {error}"
        click_to_call.end(reservation, State.FAILED, "plivo_unavailable", detail, attempts=attempts)
        return "failed"
    delay = PLACE_CALL_RETRY_DELAYS[attempts - 1]
    detail = f"Plivo was unavailable (try {attempts}); trying again in {delay} s. {error}"
    with transaction.atomic():
        if ClickToCall.objects.filter(pk=reservation.pk, state=State.PLACING, attempts=attempts).update(
            state=State.QUEUED, detail=click_to_call.hidden(detail), updated_at=timezone.now()
        ):
            enqueue(place_call, reservation.pk, attempts, run_after=timezone.now() + timedelta(seconds=delay))
    logger.warning("click-to-call %s: %s", reservation.public_id, click_to_call.hidden(detail))
    return "retrying"


Params = MultiValueDict  # a request's query or form, as the webhook's view read it (the last value of a key)

# The webhooks that queue a request the database failed, by view name, and the
# service function each runs, given the query, the form and when Plivo sent it.
# Each is idempotent per CallUUID or RecordingID (Plivo retries them too), so a
# replay that runs twice, or after Plivo's own retry got through, adds nothing.
REPLAYED_CALLBACKS: dict[str, Callable[[Params, Params, datetime], object]] = {
    "hangup": lambda query, form, received_at: calls.hangup(
        params.Hangup.read(form), params.PlatformCall.read(query), ended_at=received_at
    ),
    "dial_status": lambda query, form, received_at: calls.dial_status(params.DialStatus.read(form)),
    "recording": lambda query, form, received_at: calls.recording(params.RecordingReady.read(query, form)),
    "voicemail": lambda query, form, received_at: calls.voicemail(params.RecordingReady.read(query, form)),
}


def queue_callback(view_name: str, request: HttpRequest) -> None:
    """Queue ``request`` to ``view_name`` for the worker, in a transaction of its own.

    Its query and form hold phone numbers, as the call record does: the task
    row is personal data, deleted with finished tasks (docs/architecture.md).
    """
    # Outside what failed: that transaction has rolled back, and a connection
    # the error broke is replaced (not inside an outer transaction, which owns it).
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()
    with transaction.atomic():
        enqueue(
            replay_callback,
            view_name,
            dict(request.GET.lists()),
            dict(request.POST.lists()),
            timezone.now().isoformat(),
        )


@task()
def replay_callback(
    view_name: str, query: dict[str, list[str]], form: dict[str, list[str]], received_at: str, attempt: int = 0
) -> str:
    """Record a callback its webhook could not, as the webhook would have."""
    replay = REPLAYED_CALLBACKS[view_name]
    try:
        replay(MultiValueDict(query), MultiValueDict(form), datetime.fromisoformat(received_at))
    except DatabaseError as error:
        if attempt >= len(RETRY_DELAYS):
            # The failed task row keeps the request until finished tasks are pruned.
            logger.error("the %s callback could not be recorded after %d tries", view_name, attempt + 1)
            raise
        delay = timedelta(seconds=RETRY_DELAYS[attempt])
        enqueue(replay_callback, view_name, query, form, received_at, attempt + 1, run_after=timezone.now() + delay)
        logger.warning(
            "the %s callback met a database error (%s), trying again in %s", view_name, type(error).__name__, delay
        )
        return "retrying"
    return "recorded"


@task()
def delete_recording(recording_pk: int, attempt: int = 0) -> str:
    """Delete one recording's media at Plivo, then forget its URL here."""
    recording = Recording.objects.filter(pk=recording_pk, deleted_at__isnull=True).first()
    if recording is None:
        return "nothing to do"
    try:
        existed = plivo_client.delete_recording(plivo_client.connect(), recording.recording_id)
    except plivo_client.PlivoAPIError as error:
        if attempt < len(RETRY_DELAYS):
            delay = timedelta(seconds=RETRY_DELAYS[attempt])
            enqueue(delete_recording, recording_pk, attempt + 1, run_after=timezone.now() + delay)
            logger.warning("recording %s not deleted at Plivo, trying again in %s: %s", recording_pk, delay, error)
            return "retrying"
        logger.error("recording %s not deleted at Plivo after %d tries: %s", recording_pk, attempt + 1, error)
        return "failed"
    records.forget_recording_media(recording)
    return "deleted" if existed else "already gone"


def queue_deletions(recordings) -> int:
    """Queue the deletion of each recording still at Plivo; in the caller's transaction on the database queue."""
    pks = list(recordings.filter(deleted_at__isnull=True).values_list("pk", flat=True))
    for pk in pks:
        enqueue(delete_recording, pk, 0)
    return len(pks)
