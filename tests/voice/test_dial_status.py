"""The dial-status webhook (/voice/dial-status/): a taken call hangs up; a missed one texts the callee and takes a
voicemail, for every way Plivo reports a miss (docs/plivo.md, question (a))."""

import pytest
from django.conf import settings as django_settings

from orders import services
from orders.models import Order
from tests.support.events import assert_no_phone_number, events_of
from tests.support.webhooks import answer, dial_status, spoken
from tests.support.world import AGENT_PHONE, CUSTOMER
from voice.calls import MISSED_DIAL_STATUSES
from voice.models import CallRecord

pytestmark = pytest.mark.django_db

SMS_TO_AGENT = "Missed call from your customer about order K7X4. Call back on +1 415 555 0100."
SMS_TO_CUSTOMER = "Missed call from your delivery agent about order K7X4. Call back on +1 415 555 0100."

# Each way a call is missed: the DialStatus and the fields Plivo sends with it.
MISSES = [
    *[(status, {}) for status in sorted(MISSED_DIAL_STATUSES)],
    # The accept key not pressed, as the Hangup Causes page names it (code and name).
    ("completed", {"DialHangupCause": "9110"}),
    ("completed", {"DialHangupCause": "Confirm Key Challenge Failed"}),
    ("completed", {"DialBLegHangupCauseCode": "9110"}),
    ("", {}),
]


@pytest.fixture
def order(live_order) -> Order:
    Order.objects.filter(pk=live_order.pk).update(reference="K7X4")
    live_order.refresh_from_db()
    return live_order


def not_available() -> str:
    return django_settings.MASKING_NOT_AVAILABLE_MESSAGE


@pytest.mark.parametrize(("status", "fields"), MISSES)
def test_a_missed_call_texts_the_callee_and_takes_a_voicemail(plivo, order, status, fields):
    answer(plivo)

    root = dial_status(plivo, status, **fields)

    assert [child.tag for child in root] == ["Message", "Speak", "Record", "Hangup"]
    message = root.find("Message")
    assert message.attrib == {"src": "14155550100", "dst": "14156667778", "type": "sms"}
    assert message.text == SMS_TO_AGENT
    assert spoken(root) == [django_settings.MASKING_VOICEMAIL_PROMPT]
    assert root.find("Record").attrib == {
        "action": "http://masking.example.com/voice/voicemail/?call=call-1",
        "method": "POST",
        "callbackUrl": "http://masking.example.com/voice/voicemail/?call=call-1",
        "callbackMethod": "POST",
        "fileFormat": "mp3",
        "maxLength": "60",
        "finishOnKey": "#",
        "playBeep": "true",
    }
    record = CallRecord.objects.get()
    expected_status = "not-accepted" if status == "completed" else status
    assert (record.order, record.outcome, record.dial_status) == (order, "connected", expected_status)
    (missed,) = events_of("call.missed")
    assert missed.data["reason"] == (expected_status or "unknown")
    assert (missed.data["reference"], missed.data["caller_role"], missed.data["callee_role"]) == (
        "K7X4",
        "customer",
        "agent",
    )
    assert events_of("call.completed") == []
    assert_no_phone_number(missed)


def test_an_agent_s_missed_call_texts_the_customer(plivo, order):
    answer(plivo, "14156667778")

    root = dial_status(plivo, "no-answer", caller="14156667778")

    message = root.find("Message")
    assert (message.get("dst"), message.text) == (CUSTOMER.lstrip("+"), SMS_TO_CUSTOMER)
    assert events_of("call.missed")[0].data["callee_role"] == "customer"


def test_the_voicemail_length_follows_the_setting(settings, plivo, order):
    settings.MASKING_VOICEMAIL_MAX_SECONDS = 20
    answer(plivo)

    assert dial_status(plivo, "busy").find("Record").get("maxLength") == "20"


@pytest.mark.parametrize(
    ("voicemail", "sms", "tags"),
    [
        (True, False, ["Speak", "Record", "Hangup"]),
        (False, True, ["Message", "Speak", "Hangup"]),
        (False, False, ["Speak", "Hangup"]),
    ],
)
def test_voicemail_and_text_each_turn_off(settings, plivo, order, voicemail, sms, tags):
    settings.MASKING_VOICEMAIL, settings.MASKING_MISSED_CALL_SMS = voicemail, sms
    answer(plivo)

    root = dial_status(plivo, "no-answer")

    assert [child.tag for child in root] == tags
    if not voicemail:
        assert spoken(root) == [not_available()]


def test_a_retried_dial_status_answers_the_same_and_raises_one_event(plivo, order):
    answer(plivo)

    first, retried = dial_status(plivo, "busy"), dial_status(plivo, "busy")

    assert [(c.tag, c.attrib, c.text) for c in first] == [(c.tag, c.attrib, c.text) for c in retried]
    assert len(events_of("call.missed")) == 1


def test_an_accepted_call_just_hangs_up_and_completes_once_the_hangup_came(plivo, order):
    answer(plivo)

    root = dial_status(plivo, "completed")

    assert [child.tag for child in root] == ["Hangup"]
    assert CallRecord.objects.get().dial_status == "completed"
    assert events_of("call.missed") == []


def test_a_refused_accept_key_then_the_hangup_raises_no_completed_call(plivo, order):
    answer(plivo)
    dial_status(plivo, "completed", DialHangupCause="9110")

    plivo.signed_post("/voice/hangup/", {"CallUUID": "call-1", "From": "14156667777", "To": "14155550100"})

    assert [e.type for e in events_of("call.missed") + events_of("call.completed")] == ["call.missed"]


def test_a_call_about_no_order_hears_not_available_and_nobody_is_texted(plivo, db):
    root = dial_status(plivo, "busy", call_uuid="never-answered")

    assert [child.tag for child in root] == ["Speak", "Hangup"]
    assert spoken(root) == [not_available()]
    record = CallRecord.objects.get()
    assert (record.call_uuid, record.dial_status, record.order) == ("never-answered", "busy", None)


def test_support_calls_missed_get_no_text_and_no_voicemail(settings, plivo, order):
    settings.MASKING_SUPPORT_NUMBER = "+14155550199"
    answer(plivo, "14150000000")

    root = dial_status(plivo, "no-answer", caller="14150000000")

    assert [child.tag for child in root] == ["Speak", "Hangup"]


def test_after_a_purge_the_callee_is_not_texted(plivo, order):
    answer(plivo)
    CallRecord.objects.update(dialled_number="")

    root = dial_status(plivo, "no-answer")

    assert root.find("Message") is None
    assert root.find("Record") is not None


def test_the_missed_call_text_holds_only_the_proxy_number(plivo, order):
    answer(plivo)
    services.mark_delivered(order)

    text = dial_status(plivo, "no-answer").find("Message").text

    digits = "".join(c for c in text if c.isdigit())
    assert CUSTOMER.lstrip("+") not in digits and AGENT_PHONE.lstrip("+") not in digits
    assert digits.endswith("14155550100")
