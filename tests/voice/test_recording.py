"""Recording with consent (MASKING_RECORD_CALLS): the notice, the Record before the Dial, /voice/recording/."""

import pytest
from django.conf import settings as django_settings

from orders.models import Order
from tests.support.events import assert_no_phone_number, events_of
from tests.support.webhooks import answer, plivo_signature, xml_of
from voice.models import CallRecord, Recording

pytestmark = pytest.mark.django_db

RECORD_URL = "https://media.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Recording/rec-9.mp3"


@pytest.fixture
def recorded(settings, live_order) -> Order:
    settings.MASKING_RECORD_CALLS = True
    Order.objects.filter(pk=live_order.pk).update(reference="K7X4")
    return Order.objects.get(pk=live_order.pk)


def post_recording(plivo, duration: str = "42", *, query: str = "?call=call-1", recording_id: str = "rec-9"):
    """What Plivo posts to a Record callbackUrl (docs/plivo.md, "Record")."""
    data = {
        "RecordUrl": RECORD_URL,
        "RecordingID": recording_id,
        "RecordingDuration": duration,
        "RecordingDurationMs": "-1" if duration == "-1" else f"{duration}000",
        "RecordingStartMs": "1764626400000",
        "RecordingEndMs": "1764626442000",
    }
    return plivo.signed_post(f"/voice/recording/{query}", data)


def test_the_caller_hears_the_notice_and_only_the_conversation_is_recorded(plivo, recorded):
    root = answer(plivo)

    assert [child.tag for child in root] == ["Speak", "Record", "Dial"]
    assert root[0].text == django_settings.MASKING_RECORDING_NOTICE
    assert root[1].attrib == {
        "startOnDialAnswer": "true",
        "redirect": "false",
        "fileFormat": "mp3",
        "maxLength": "3600",
        "callbackMethod": "POST",
        "callbackUrl": "http://masking.example.com/voice/recording/?call=call-1",
    }


def test_the_callee_hears_the_notice_in_the_whisper(plivo, recorded):
    dial = answer(plivo).find("Dial")
    path = dial.get("confirmSound").removeprefix(django_settings.PUBLIC_BASE_URL)

    texts = [s.text for s in xml_of(plivo.signed_post(path, {"CallUUID": "b"}))]

    assert texts == [
        "Call from your customer about order K 7 X 4.",
        django_settings.MASKING_RECORDING_NOTICE,
        "Press 1 to accept.",
    ]


def test_with_recording_alone_the_callee_still_hears_the_notice(settings, plivo, recorded):
    settings.MASKING_WHISPER, settings.MASKING_ACCEPT_KEY = False, ""
    dial = answer(plivo).find("Dial")
    path = dial.get("confirmSound").removeprefix(django_settings.PUBLIC_BASE_URL)

    assert [s.text for s in xml_of(plivo.signed_post(path, {"CallUUID": "b"}))] == [
        django_settings.MASKING_RECORDING_NOTICE
    ]


def test_recording_keeps_the_known_caller_answer_at_two_queries(plivo, recorded, django_assert_num_queries):
    with django_assert_num_queries(2):
        root = answer(plivo, call_uuid="fast-1")

    assert root.find("Record").get("callbackUrl").endswith("?call=fast-1")


def test_by_default_nothing_is_recorded(plivo, live_order):
    root = answer(plivo)

    assert [child.tag for child in root] == ["Dial"]


def test_a_support_call_is_not_recorded(settings, plivo, recorded):
    settings.MASKING_SUPPORT_NUMBER = "+14155550199"

    assert [child.tag for child in answer(plivo, "14150000000")] == ["Dial"]


def test_the_recording_is_kept_with_the_call_and_announced_once(plivo, recorded):
    answer(plivo)

    first = post_recording(plivo)
    post_recording(plivo)  # retried

    assert first.status_code == 200
    recording = Recording.objects.get()
    assert (recording.kind, recording.url, recording.duration, recording.order) == ("call", RECORD_URL, 42, recorded)
    assert recording.call == CallRecord.objects.get(call_uuid="call-1")
    (event,) = events_of("recording.ready")
    assert event.data == {
        "reference": "K7X4",
        "proxy_number": "+14155550100",
        "parties": ["customer", "agent"],
        "call_uuid": "call-1",
        "caller_role": "customer",
        "callee_role": "agent",
        "initiated_by": "caller",
        "duration": 42,
        "recording_id": "rec-9",
        "recording_url": RECORD_URL,
    }
    assert_no_phone_number(event)


def test_an_unknown_duration_then_the_final_one_raises_one_event_with_it(plivo, recorded):
    answer(plivo)

    post_recording(plivo, "-1")
    assert events_of("recording.ready") == []
    post_recording(plivo, "42")
    post_recording(plivo, "-1")

    assert Recording.objects.get().duration == 42
    assert [e.data["duration"] for e in events_of("recording.ready")] == [42]


def test_an_unsigned_or_forged_recording_is_refused(client, plivo, recorded, settings):
    answer(plivo)
    data = {"RecordingID": "rec-9", "RecordUrl": RECORD_URL, "RecordingDuration": "42"}
    signature = plivo_signature(settings.PUBLIC_BASE_URL + "/voice/recording/?call=call-1", "n", params=data)

    unsigned = client.post("/voice/recording/?call=call-1", data)
    forged = client.post(
        "/voice/recording/?call=other",
        data,
        headers={"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": "n"},
    )

    assert (unsigned.status_code, forged.status_code) == (403, 403)
    assert not Recording.objects.exists()
