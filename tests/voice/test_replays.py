"""Replayed webhook requests: captured byte for byte, sent again, they reveal no number.

Plivo's signatures carry no timestamp, so a captured request stays validly
signed forever (docs/plivo.md, question (c)). The answer URL refuses to reveal
a number for a CallUUID it has recorded; the PIN URL and V2-signed texts
refuse a nonce they have seen (voice/replays.py).
"""

import secrets
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from orders import services
from orders.models import Agent, Order
from tests.support.webhooks import call_params, plivo_signature, xml_of
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY, open_line
from voice.models import CallRecord, MessageRecord, WebhookNonce
from voice.plivo import xml
from voice.plivo.webhook import expected_signature_v2

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


class Captured:
    """One signed Plivo POST, fixed once: what an attacker who saw it on the wire can send again."""

    def __init__(self, path: str, params: dict[str, str]) -> None:
        self.path, self.body = path, urlencode(params)
        nonce = secrets.token_hex(10)
        signature = plivo_signature(settings.PUBLIC_BASE_URL + path, nonce, params=params)
        self.headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}

    def send(self):
        return Client().post(self.path, self.body, content_type=FORM, headers=self.headers)


def numbers_in(response) -> list[str]:
    root = xml_of(response)
    return [number.text for number in root.iter("Number")] + [m.get("dst") for m in root.iter("Message")]


@pytest.fixture
def dave(db) -> Agent:
    return Agent.objects.create(name="Dave", phone="+14156667780")


def test_a_replayed_answer_reveals_no_number_even_after_the_agent_changes(live_order, dave):
    captured = Captured("/voice/answer/", call_params(CUSTOMER.lstrip("+"), call_uuid="captured-1"))
    assert numbers_in(captured.send()) == [AGENT_PHONE.lstrip("+")]
    services.assign_agent(live_order, dave)

    replays = [captured.send() for _ in range(3)]

    assert [r.content.decode() for r in replays] == [xml.apology()] * 3
    assert all(numbers_in(r) == [] for r in replays)
    record = CallRecord.objects.get(call_uuid="captured-1")
    assert record.dialled_number == AGENT_PHONE  # the first answer's record stays as it was


def test_a_replayed_get_answer_reveals_no_number(plivo, live_order):
    params = call_params(CUSTOMER.lstrip("+"), call_uuid="captured-get")
    first = plivo.signed_get("/voice/answer/", params)
    again = plivo.signed_get("/voice/answer/", params)

    assert numbers_in(first) == [AGENT_PHONE.lstrip("+")]
    assert again.content.decode() == xml.apology()


def test_a_new_call_from_the_same_caller_still_connects(plivo, live_order):
    plivo.signed_post("/voice/answer/", call_params(CUSTOMER.lstrip("+"), call_uuid="first-call"))

    response = plivo.signed_post("/voice/answer/", call_params(CUSTOMER.lstrip("+"), call_uuid="second-call"))

    assert numbers_in(response) == [AGENT_PHONE.lstrip("+")]


@pytest.fixture
def two_orders(live_order, dave) -> tuple[Order, Order]:
    """The customer has two live orders on one number, so a call asks for the PIN."""
    return live_order, open_line(CUSTOMER, dave)


def pin_params(digits: str, call_uuid: str = "pin-call") -> dict[str, str]:
    return {"CallUUID": call_uuid, "From": CUSTOMER.lstrip("+"), "To": PROXY.lstrip("+"), "Digits": digits}


def test_a_replayed_pin_request_reveals_no_number(two_orders, dave):
    first, second = two_orders
    captured = Captured("/voice/pin/?attempt=1", pin_params(second.masking.pin))
    assert numbers_in(captured.send()) == [dave.phone.as_e164.lstrip("+")]
    services.assign_agent(second, Agent.objects.create(name="Erin", phone="+14156667781"))

    replay = captured.send()

    assert replay.status_code == 200
    assert replay.content.decode() == xml.apology()
    assert WebhookNonce.objects.count() == 1


def test_each_pin_attempt_of_a_call_is_answered(plivo, two_orders, dave):
    _, second = two_orders
    wrong = plivo.signed_post("/voice/pin/?attempt=1", pin_params("0000" if second.masking.pin != "0000" else "0001"))
    right = plivo.signed_post("/voice/pin/?attempt=2", pin_params(second.masking.pin))

    assert b"<GetDigits" in wrong.content
    assert numbers_in(right) == [dave.phone.as_e164.lstrip("+")]


def test_dial_status_and_hangup_retried_with_the_same_nonce_still_work(live_order):
    # docs/plivo.md, question (c): Plivo may reuse the nonce on a retry. These
    # callbacks reveal no number and write the same values again, so they stay open.
    dial = Captured("/voice/dial-status/", {"CallUUID": "retried", "DialStatus": "busy"})
    hangup = Captured("/voice/hangup/", {"CallUUID": "retried", "Duration": "12", "HangupCauseName": "Normal Hangup"})

    responses = [dial.send(), dial.send(), hangup.send(), hangup.send()]

    assert [r.status_code for r in responses] == [200] * 4
    # The same answer both times (this call is about no order: the caller just hears "not available").
    assert (
        responses[0].content
        == responses[1].content
        == xml.say_and_hang_up(settings.MASKING_NOT_AVAILABLE_MESSAGE).encode()
    )
    record = CallRecord.objects.get(call_uuid="retried")
    assert (record.dial_status, record.duration, record.hangup_cause) == ("busy", 12, "Normal Hangup")
    assert not WebhookNonce.objects.exists()


def sms(sender: str, text: str, message_uuid: str) -> str:
    return urlencode(
        {"From": sender.lstrip("+"), "To": PROXY.lstrip("+"), "Type": "sms", "Text": text, "MessageUUID": message_uuid}
    )


def v2_pair() -> dict[str, str]:
    nonce = secrets.token_hex(10)
    url = settings.PUBLIC_BASE_URL + "/voice/message/"
    signature = expected_signature_v2(url, nonce, settings.PLIVO_AUTH_TOKEN).decode()
    return {"X-Plivo-Signature-V2": signature, "X-Plivo-Signature-V2-Nonce": nonce}


def test_a_captured_v2_header_pair_works_once_whatever_the_body(live_order):
    headers = v2_pair()
    genuine = Client().post(
        "/voice/message/", sms(CUSTOMER, "at the gate", "sms-1"), content_type=FORM, headers=headers
    )
    # The V2 signature does not cover the body: the attacker writes their own.
    forged = Client().post(
        "/voice/message/", sms(AGENT_PHONE, "who are you?", "sms-2"), content_type=FORM, headers=headers
    )

    assert numbers_in(genuine) == [AGENT_PHONE.lstrip("+")]
    assert forged.status_code == 200
    assert forged.content == b"<Response/>"
    assert list(MessageRecord.objects.values_list("message_uuid", flat=True)) == ["sms-1"]


def test_a_replayed_v3_text_is_not_relayed_again_after_the_agent_changes(live_order, dave):
    params = {"From": CUSTOMER.lstrip("+"), "To": PROXY.lstrip("+"), "Text": "hi", "MessageUUID": "sms-3"}
    captured = Captured("/voice/message/", params)
    assert numbers_in(captured.send()) == [AGENT_PHONE.lstrip("+")]
    services.assign_agent(live_order, dave)

    assert captured.send().content == b"<Response/>"


def test_plivo_accept_v2_off_refuses_v2_signatures(live_order, settings):
    settings.PLIVO_ACCEPT_V2 = False

    response = Client().post("/voice/message/", sms(CUSTOMER, "hello", "sms-4"), content_type=FORM, headers=v2_pair())

    assert response.status_code == 403
    assert not MessageRecord.objects.exists()


def test_the_purge_forgets_old_nonces_but_not_while_a_line_could_use_them(capsys):
    now = timezone.now()
    WebhookNonce.objects.create(digest="old", seen_at=now - timedelta(days=31))
    WebhookNonce.objects.create(digest="recent", seen_at=now - timedelta(hours=1))

    call_command("purge_personal_data", "--older-than", "0")

    assert list(WebhookNonce.objects.values_list("digest", flat=True)) == ["recent"]
    assert capsys.readouterr().out.strip().endswith("1 webhook nonce.")
