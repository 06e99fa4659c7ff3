"""Deleting recordings and voicemails at Plivo, through the task queue (``manage.py worker``).

Plivo holds the media; we hold its id and URL. A recording's URL is cleared
only after Plivo confirmed the deletion (or answered 404: already gone), so
the admin and the platform never get a URL whose media is gone, and a Plivo
failure never loses track of media still stored there: the task tries again
later, and the next ``purge_personal_data`` queues it again after that.
"""

import logging
from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from orders.tasks import enqueue

from . import plivo_api, records
from .models import Recording

logger = logging.getLogger(__name__)

# Seconds before each new try after a Plivo failure (the SDK already retried
# the request itself); after the last, the next daily purge queues it again.
RETRY_DELAYS = (60, 600, 3600, 6 * 3600)


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
