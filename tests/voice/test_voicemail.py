"""The voicemail webhook (/voice/voicemail/, Record action and callbackUrl): kept once, announced once, in any order."""

from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError

from orders.models import Order
from tests.support.events import assert_no_phone_number, events_of
from tests.support.webhooks import answer, call_params, dial_status, spoken, xml_of
from voice.models import CallRecord, Recording

pytestmark = pytest.mark.django_db

RECORD_URL = "https://media.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Recording/rec-1.mp3"


@pytest.fixture
def missed(plivo, live_order) -> Order:
    """A customer's call to the agent, missed; the caller is at the voicemail prompt."""
    Order.objects.filter(pk=live_order.pk).update(reference="K7X4")
    answer(plivo)
    dial_status(plivo, "no-answer")
    return Order.objects.get(pk=live_order.pk)


def post_voicemail(plivo, duration: str = "12", *, recording_id: str = "rec-1", query: str = "?call=call-1", **extra):
    """What Plivo posts to the Record action or callback URL (docs/plivo.md, "Record")."""
    data = {
        "RecordUrl": RECORD_URL,
        "RecordingID": recording_id,
        "RecordingDuration": duration,
        "RecordingDurationMs": str(int(duration) * 1000) if duration != "-1" else "-1",
        "RecordingStartMs": "1764626400000",
        "RecordingEndMs": "1764626412000",
        **extra,
    }
    return xml_of(plivo.signed_post(f"/voice/voicemail/{query}", data))


def test_a_voicemail_is_kept_with_the_call_and_announced(plivo, missed):
    root = post_voicemail(plivo, Digits="#")

    assert spoken(root) == [django_settings.MASKING_VOICEMAIL_THANKS]
    assert root[-1].tag == "Hangup"
    recording = Recording.objects.get()
    assert (recording.recording_id, recording.kind, recording.url, recording.duration) == (
        "rec-1",
        "voicemail",
        RECORD_URL,
        12,
    )
    assert (recording.call, recording.order) == (CallRecord.objects.get(call_uuid="call-1"), missed)
    (event,) = events_of("voicemail.received")
    assert event.data == {
        "reference": "K7X4",
        "proxy_number": "+14155550100",
        "parties": ["customer", "agent"],
        "call_uuid": "call-1",
        "caller_role": "customer",
        "callee_role": "agent",
        "initiated_by": "caller",
        "duration": 12,
        "recording_id": "rec-1",
        "recording_url": RECORD_URL,
    }
    assert_no_phone_number(event)


def test_the_action_and_the_callback_make_one_recording_and_one_event(plivo, missed):
    post_voicemail(plivo)
    post_voicemail(plivo)  # the callback, or a retry

    assert Recording.objects.count() == 1
    assert len(events_of("voicemail.received")) == 1


def test_a_callback_before_an_action_without_durations_keeps_the_duration(plivo, missed):
    post_voicemail(plivo, "12")
    post_voicemail(plivo, "-1")

    assert Recording.objects.get().duration == 12
    assert len(events_of("voicemail.received")) == 1


def test_an_unknown_duration_waits_for_the_one_that_knows(plivo, missed):
    post_voicemail(plivo, "-1")
    assert events_of("voicemail.received") == []

    post_voicemail(plivo, "9")

    assert Recording.objects.get().duration == 9
    assert events_of("voicemail.received")[0].data["duration"] == 9


def test_the_call_uuid_may_come_in_the_body_instead(plivo, missed):
    post_voicemail(plivo, query="", CallUUID="call-1")

    assert Recording.objects.get().call.call_uuid == "call-1"


def test_an_unsigned_voicemail_is_refused(client, missed):
    response = client.post("/voice/voicemail/?call=call-1", {"RecordingID": "rec-1", "RecordUrl": RECORD_URL})

    assert response.status_code == 403
    assert not Recording.objects.exists()


def test_a_post_without_a_recording_only_thanks_the_caller(plivo, missed):
    root = xml_of(plivo.signed_post("/voice/voicemail/?call=call-1", call_params("14156667777", call_uuid="call-1")))

    assert spoken(root) == [django_settings.MASKING_VOICEMAIL_THANKS]
    assert not Recording.objects.exists()


def test_a_database_error_still_thanks_the_caller(plivo, missed):
    with mock.patch("voice.records.Recording.objects.select_for_update", side_effect=OperationalError("gone")):
        root = post_voicemail(plivo)

    assert spoken(root) == [django_settings.MASKING_VOICEMAIL_THANKS]
