"""voice's tasks on the task queue (``manage.py worker``): callbacks the database failed, and deleting recordings.

Callbacks: a callback that only records what happened (a hangup, a dial
status, a recording or voicemail) and met a database error when Plivo sent
it is queued by its webhook (voice.webhook, ``OnDatabaseError.QUEUE``) and
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

from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django_tasks import task

from orders.tasks import enqueue

from . import calls, plivo_api, records
from .models import Recording

logger = logging.getLogger(__name__)

# Seconds before each new try after a Plivo failure (the SDK already retried
# the request itself; after the last, the next daily purge queues it again),
# or after a database error while recording a queued callback.
RETRY_DELAYS = (60, 600, 3600, 6 * 3600)

Params = MultiValueDict  # a request's query or form, as the webhook's view read it (the last value of a key)

# The webhooks that queue a request the database failed, by view name, and the
# service function each runs, given the query, the form and when Plivo sent it.
# Each is idempotent per CallUUID or RecordingID (Plivo retries them too), so a
# replay that runs twice, or after Plivo's own retry got through, adds nothing.
REPLAYED_CALLBACKS: dict[str, Callable[[Params, Params, datetime], object]] = {
    "hangup": lambda query, form, received_at: calls.hangup(form, query, ended_at=received_at),
    "dial_status": lambda query, form, received_at: calls.dial_status(form),
    "recording": lambda query, form, received_at: calls.recording(query, form),
    "voicemail": lambda query, form, received_at: calls.voicemail(query, form),
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
        existed = plivo_api.delete_recording(plivo_api.connect(), recording.recording_id)
    except plivo_api.PlivoAPIError as error:
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
