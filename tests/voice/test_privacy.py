"""Personal numbers stay out of what callers hear and out of the logs, across a whole call."""

import logging
import re
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError

from orders.models import Agent, Order
from orders.phones import redact
from tests.support.admin_forms import admin_post_data
from tests.support.webhooks import call_params, spoken, xml_of
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY, open_line
from voice.models import CallRecord

pytestmark = pytest.mark.django_db

SECOND_AGENT_PHONE = "+14156667790"
STRANGER = "+14156660000"
SUPPORT = "+14155550199"
PHONE_LIKE = re.compile(r"\d[\d\s().+-]{5,}\d")
RECORD_URL = "https://media.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Recording/r1.mp3"


def digits(text: str) -> str:
    return "".join(character for character in text if character.isdigit())


def assign_in_admin(admin_client, order: Order, agent: Agent) -> None:
    url = f"/admin/orders/order/{order.pk}/change/"
    response = admin_client.post(url, admin_post_data(admin_client.get(url), agent=agent.pk))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors


def test_no_spoken_text_contains_a_phone_number(settings, plivo, proxy_number, agent):
    open_line(CUSTOMER, agent)
    open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))
    answers = [
        plivo.signed_post("/voice/answer/", call_params("14156667777")),
        plivo.signed_post("/voice/pin/?attempt=1", call_params("14156667777", Digits="")),
        plivo.signed_post("/voice/pin/?attempt=3", call_params("14156667777", Digits="")),
        plivo.signed_post("/voice/answer/", call_params("14150001234")),
        plivo.signed_post("/voice/dial-status/", call_params("14156667777", DialStatus="busy")),
        plivo.signed_post("/voice/fallback/", call_params("14156667777")),
    ]

    texts = [text for response in answers for text in spoken(xml_of(response))]

    assert set(texts) >= {
        django_settings.MASKING_PIN_PROMPT,
        django_settings.MASKING_PIN_RETRY,
        django_settings.MASKING_PIN_GOODBYE,
        settings.MASKING_NOT_AVAILABLE_MESSAGE,
        django_settings.MASKING_APOLOGY_MESSAGE,
    }
    assert settings.MASKING_UNKNOWN_CALLER_MESSAGE in texts
    assert [text for text in texts if PHONE_LIKE.search(text)] == []


def test_a_whole_call_leaves_no_full_phone_number_in_the_logs(
    settings, admin_client, plivo, proxy_number, agent, caplog
):
    caplog.set_level(logging.DEBUG)
    settings.MASKING_SUPPORT_NUMBER = SUPPORT
    other_agent = Agent.objects.create(name="Carl", phone=SECOND_AGENT_PHONE)
    first = Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER)
    second = Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER)

    # Staff assign two agents to the customer's orders on a one-number pool
    # (which warns: the pool is too small), so her call needs a PIN; she gets
    # it wrong twice. Then a stranger (put through to support), the agent, an
    # unsigned request and a database error, whose traceback is logged too.
    assign_in_admin(admin_client, first, agent)
    assign_in_admin(admin_client, second, other_agent)
    second.refresh_from_db()
    plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="c1"))
    plivo.signed_post("/voice/pin/?attempt=1", call_params(CUSTOMER, call_uuid="c1", Digits="0000"))
    plivo.signed_post("/voice/pin/?attempt=3", call_params(CUSTOMER, call_uuid="c1", Digits="0000"))
    pin = plivo.signed_post("/voice/pin/?attempt=2", call_params(CUSTOMER, call_uuid="c1", Digits=second.masking.pin))
    plivo.signed_post("/voice/dial-status/", call_params(CUSTOMER, call_uuid="c1", DialStatus="completed"))
    plivo.signed_post("/voice/hangup/", call_params(CUSTOMER, call_uuid="c1", Duration="30"))
    plivo.signed_post("/voice/answer/", call_params(STRANGER, call_uuid="c2"))
    plivo.signed_get("/voice/answer/", call_params(AGENT_PHONE, call_uuid="c3"))
    plivo.post("/voice/answer/", call_params(CUSTOMER))  # unsigned: rejected and logged
    with mock.patch("voice.calls.resolve", side_effect=OperationalError("server closed the connection")):
        plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="c4"))

    assert xml_of(pin).find("Dial") is not None
    assert CallRecord.objects.get(call_uuid="c1").dialled_number == SECOND_AGENT_PHONE
    assert len(caplog.records) >= 8
    logged = "\n".join(logging.Formatter().format(record) for record in caplog.records)
    assert "***" in logged  # numbers were logged, redacted
    for number in (CUSTOMER, AGENT_PHONE, SECOND_AGENT_PHONE, STRANGER, PROXY, SUPPORT):
        national = number[2:]  # without +1
        # In any spacing: the digits of the whole log, run together.
        assert national not in digits(logged), f"{number} appears in the logs"


@pytest.mark.parametrize(
    "number", ["+6834002", "+50012345", "+299123456", "+3541234567", "+14156667777", "+447400123456", "+8613800138000"]
)
def test_a_redacted_number_always_hides_digits(number):
    redacted = redact(number)

    assert len(digits(number)) - len(digits(redacted)) >= 3, redacted


def test_a_short_foreign_number_is_not_logged_in_full(caplog, plivo, live_order):
    caplog.set_level(logging.DEBUG)

    plivo.signed_post("/voice/answer/", call_params("50012345"))  # the Falkland Islands: five-digit numbers

    lines = [record.getMessage() for record in caplog.records if "call from" in record.getMessage()]
    assert len(lines) == 1
    assert len(digits(lines[0].split(" to ")[0])) <= 5, lines[0]


def test_no_whisper_missed_call_text_or_voicemail_answer_contains_a_party_s_number(settings, plivo, live_order):
    settings.MASKING_RECORD_CALLS = True
    # A random reference with four digits in a row, spoken one by one, would look like a number here.
    Order.objects.filter(pk=live_order.pk).update(reference="K7X4")
    answered = xml_of(plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="c1")))
    whisper_path = answered.find("Dial").get("confirmSound").removeprefix(settings.PUBLIC_BASE_URL)
    answers = [
        answered,
        xml_of(plivo.signed_post(whisper_path, call_params("14156667778", call_uuid="b1"))),
        xml_of(plivo.signed_post("/voice/dial-status/", call_params(CUSTOMER, call_uuid="c1", DialStatus="no-answer"))),
        xml_of(plivo.signed_post("/voice/voicemail/?call=c1", {"RecordingID": "r1", "RecordUrl": RECORD_URL})),
    ]

    texts = [text for root in answers for text in spoken(root)]
    (sms,) = [message.text for root in answers for message in root.iter("Message")]

    assert len(texts) >= 5
    assert [text for text in texts if PHONE_LIKE.search(text)] == []
    for number in (CUSTOMER, AGENT_PHONE):
        assert digits(number) not in digits(sms)
    assert digits(sms).endswith(digits(PROXY))
