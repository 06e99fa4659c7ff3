"""Recordings and voicemails deleted at Plivo (voice/tasks.py), queued by purge_personal_data, retried on failure."""

import logging
from datetime import timedelta
from unittest import mock

import pytest
import responses
from django.utils import timezone

from orders import services
from tests.support.commands import run_command
from tests.support.events import run_worker
from tests.support.fake_plivo import AUTH_ID
from voice.models import CallRecord, Recording

pytestmark = pytest.mark.django_db

MEDIA = "https://media.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Recording/{}.mp3"


def recording_url(recording_id: str, api_url: str = "https://api.plivo.com") -> str:
    return f"{api_url}/v1/Account/{AUTH_ID}/Recording/{recording_id}/"


def make_recording(order, recording_id: str = "rec-1", *, age: timedelta = timedelta(0)) -> Recording:
    call = CallRecord.objects.create(call_uuid=f"call-{recording_id}", order=order)
    return Recording.objects.create(
        recording_id=recording_id,
        kind="voicemail",
        call=call,
        order=order,
        url=MEDIA.format(recording_id),
        duration=10,
        created_at=timezone.now() - age,
    )


def at(moment):
    return mock.patch("django.utils.timezone.now", return_value=moment)


def purge() -> str:
    return run_command("purge_personal_data").out


def test_a_recording_past_the_retention_period_is_deleted_at_plivo_then_forgotten(mocked, live_order):
    old = make_recording(live_order, "old", age=timedelta(days=31))
    recent = make_recording(live_order, "recent", age=timedelta(days=29))
    mocked.add(responses.DELETE, recording_url("old"), status=204)

    assert "1 recordings queued for deletion at Plivo" in purge()
    run_worker()

    old.refresh_from_db(), recent.refresh_from_db()
    assert (old.url, old.deleted_at is not None) == ("", True)
    assert (recent.url, recent.deleted_at) == (MEDIA.format("recent"), None)
    assert [call.request.method for call in mocked.calls] == ["DELETE"]


def test_the_retention_period_is_a_setting(settings, mocked, live_order):
    settings.MASKING_RECORDING_RETENTION_DAYS = 7
    recording = make_recording(live_order, age=timedelta(days=8))
    mocked.add(responses.DELETE, recording_url("rec-1"), status=204)

    purge()
    run_worker()

    recording.refresh_from_db()
    assert recording.deleted_at is not None


def test_the_recordings_of_a_purged_order_go_at_once(mocked, live_order):
    recording = make_recording(live_order)
    services.cancel_order(live_order)
    mocked.add(responses.DELETE, recording_url("rec-1"), status=204)

    with at(timezone.now() + timedelta(days=31)):
        purge()
        run_worker()

    recording.refresh_from_db()
    assert (recording.url, recording.deleted_at is not None) == ("", True)


def test_a_plivo_failure_keeps_the_url_and_is_tried_again_later(mocked, live_order, caplog):
    recording = make_recording(live_order, age=timedelta(days=31))
    failing = {"on": True}
    mocked.add_callback(
        responses.DELETE,
        recording_url("rec-1"),
        callback=lambda request: (503, {}, '{"error": "unavailable"}') if failing["on"] else (204, {}, ""),
    )

    purge()
    run_worker()

    recording.refresh_from_db()
    assert (recording.url, recording.deleted_at) == (MEDIA.format("rec-1"), None)
    assert "trying again" in caplog.text

    failing["on"] = False
    with at(timezone.now() + timedelta(minutes=2)):
        run_worker()

    recording.refresh_from_db()
    assert (recording.url, recording.deleted_at is not None) == ("", True)


def test_media_already_gone_at_plivo_is_forgotten_here(mocked, live_order):
    recording = make_recording(live_order, age=timedelta(days=31))
    mocked.add(responses.DELETE, recording_url("rec-1"), status=404, json={"api_id": "x", "error": "not found"})

    purge()
    run_worker()

    recording.refresh_from_db()
    assert (recording.url, recording.deleted_at is not None) == ("", True)


def test_after_the_last_try_the_next_purge_queues_it_again(mocked, live_order, caplog):
    caplog.set_level(logging.ERROR)
    recording = make_recording(live_order, age=timedelta(days=31))
    mocked.add(responses.DELETE, recording_url("rec-1"), status=503, json={"error": "unavailable"})

    purge()
    now = timezone.now()
    for hours in (0, 1, 2, 4, 12):
        with at(now + timedelta(hours=hours)):
            run_worker()

    recording.refresh_from_db()
    assert recording.deleted_at is None and recording.url
    assert "not deleted at Plivo after 5 tries" in caplog.text
    assert "1 recordings queued" in purge()


def test_a_deleted_recording_is_not_deleted_twice_nor_given_its_url_back(mocked, plivo, live_order):
    recording = make_recording(live_order, age=timedelta(days=31))
    mocked.add(responses.DELETE, recording_url("rec-1"), status=204)
    purge()
    run_worker()

    # Plivo's late callback for the same recording, then another daily purge.
    plivo.signed_post(
        "/voice/voicemail/?call=call-rec-1",
        {"RecordingID": "rec-1", "RecordUrl": MEDIA.format("rec-1"), "RecordingDuration": "10"},
    )
    assert "recordings queued" not in purge()
    run_worker()

    recording.refresh_from_db()
    assert recording.url == ""
    assert len(mocked.calls) == 1


def test_deletion_goes_to_the_configured_api_host(settings, mocked, live_order):
    settings.PLIVO_API_URL = "https://api-eu.example.com"
    recording = make_recording(live_order, age=timedelta(days=31))
    mocked.add(responses.DELETE, recording_url("rec-1", "https://api-eu.example.com"), status=204)

    purge()
    run_worker()

    recording.refresh_from_db()
    assert recording.deleted_at is not None
