import base64
import hashlib
import hmac
import logging
import secrets
import xml.etree.ElementTree as ET
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from orders import services
from orders.models import Agent, Order
from voice import messages
from voice.models import CallRecord, MessageRecord

from .conftest import AGENT_PHONE, CUSTOMER, PROXY, call_params, plivo_signature

pytestmark = pytest.mark.django_db

URL = "/voice/message/"


def sms_params(sender: str, text: str, proxy: str = PROXY, message_uuid: str | None = None) -> dict:
    """The form Plivo posts to the message URL."""
    return {
        "From": sender.lstrip("+"),
        "To": proxy.lstrip("+"),
        "Type": "sms",
        "Text": text,
        "MessageUUID": message_uuid or secrets.token_hex(16),
    }


def v2_headers(path: str, token: str | None = None) -> dict:
    """Sign like Plivo's V2 scheme: HMAC-SHA256 over the URL without query, then the nonce."""
    nonce = secrets.token_hex(10)
    url = settings.PUBLIC_BASE_URL + path.partition("?")[0]
    digest = hmac.new((token or settings.PLIVO_AUTH_TOKEN).encode(), (url + nonce).encode(), hashlib.sha256).digest()
    return {"X-Plivo-Signature-V2": base64.b64encode(digest).decode(), "X-Plivo-Signature-V2-Nonce": nonce}


def parse(response) -> ET.Element:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    root = ET.fromstring(response.content)  # noqa: S314 - our own answer, not untrusted input
    assert root.tag == "Response"
    return root


def only_message(response) -> ET.Element:
    root = parse(response)
    assert [child.tag for child in root] == ["Message"]
    message = root[0]
    assert message.get("type") == "sms"
    return message


@pytest.fixture
def second_order(live_order) -> Order:
    """The same customer with a second live order on the same (only) proxy number."""
    other_agent = Agent.objects.create(name="Carl", phone="+14156660001")
    order = Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER)
    order = services.assign_agent(order, other_agent)
    assert order.proxy_number_id == live_order.proxy_number_id
    return order


def test_it_relays_a_customer_text_to_the_agent_from_the_proxy_number(plivo, live_order):
    response = plivo.signed_post(URL, sms_params(CUSTOMER, "I'm at the blue door", message_uuid="sms-1"))

    message = only_message(response)
    assert message.get("src") == "14155550100"
    assert message.get("dst") == "14156667778"
    assert message.text == "I'm at the blue door"
    record = MessageRecord.objects.get(message_uuid="sms-1")
    assert record.order == live_order
    assert record.sender_role == "customer"
    assert record.outcome == "relayed"
    assert record.from_number == CUSTOMER
    assert record.proxy_number == PROXY
    assert record.relayed_to == AGENT_PHONE


def test_it_relays_an_agent_text_to_the_customer(plivo, live_order):
    response = plivo.signed_post(URL, sms_params(AGENT_PHONE, "Five minutes away", message_uuid="sms-2"))

    message = only_message(response)
    assert message.get("src") == "14155550100"
    assert message.get("dst") == "14156667777"
    assert message.text == "Five minutes away"
    record = MessageRecord.objects.get(message_uuid="sms-2")
    assert (record.order, record.sender_role, record.relayed_to) == (live_order, "agent", CUSTOMER)


def test_it_never_stores_or_logs_the_text_or_full_numbers(plivo, live_order, caplog):
    with caplog.at_level(logging.DEBUG):
        plivo.signed_post(URL, sms_params(CUSTOMER, "secret gate code 9911", message_uuid="sms-3"))

    record = MessageRecord.objects.get(message_uuid="sms-3")
    stored = " ".join(str(getattr(record, field.attname)) for field in MessageRecord._meta.concrete_fields)
    assert "9911" not in stored
    assert "9911" not in caplog.text
    assert "6667777" not in caplog.text and "6667778" not in caplog.text


def test_it_keeps_a_single_order_text_that_starts_with_digits_as_it_is(plivo, live_order):
    response = plivo.signed_post(URL, sms_params(CUSTOMER, f"{live_order.pin} Main Street, flat 2"))

    assert only_message(response).text == f"{live_order.pin} Main Street, flat 2"


def test_it_asks_a_sender_with_two_orders_on_the_number_for_the_order_pin(plivo, live_order, second_order):
    response = plivo.signed_post(URL, sms_params(CUSTOMER, "Where are you?", message_uuid="sms-4"))

    message = only_message(response)
    assert message.get("src") == "14155550100"
    assert message.get("dst") == "14156667777"
    assert message.text == messages.PIN_PROMPT
    record = MessageRecord.objects.get(message_uuid="sms-4")
    assert (record.order, record.outcome, record.relayed_to) == (None, "pin_prompted", "")


def test_it_relays_a_pin_prefixed_text_to_that_orders_agent_without_the_pin(plivo, live_order, second_order):
    response = plivo.signed_post(URL, sms_params(CUSTOMER, f"{second_order.pin}: Where are you?", message_uuid="sms-5"))

    message = only_message(response)
    assert message.get("dst") == "14156660001"
    assert message.text == "Where are you?"
    record = MessageRecord.objects.get(message_uuid="sms-5")
    assert (record.order, record.outcome, record.relayed_to) == (second_order, "relayed", "+14156660001")


def test_it_routes_the_first_order_by_its_own_pin(plivo, live_order, second_order):
    response = plivo.signed_post(URL, sms_params(CUSTOMER, f"  {live_order.pin} Leave it at the door"))

    message = only_message(response)
    assert message.get("dst") == "14156667778"
    assert message.text == "Leave it at the door"


def test_it_asks_again_when_the_pin_matches_no_order_of_the_sender(plivo, live_order, second_order):
    wrong = next(f"{n:04d}" for n in range(10000) if f"{n:04d}" not in {live_order.pin, second_order.pin})

    response = plivo.signed_post(URL, sms_params(CUSTOMER, f"{wrong} hello", message_uuid="sms-6"))

    message = only_message(response)
    assert message.get("dst") == "14156667777"
    assert message.text == messages.PIN_RETRY
    assert MessageRecord.objects.get(message_uuid="sms-6").outcome == "pin_prompted"


def test_it_does_not_take_a_longer_number_for_a_pin(plivo, live_order, second_order):
    response = plivo.signed_post(URL, sms_params(CUSTOMER, f"{live_order.pin}5 is my flat"))

    assert only_message(response).text == messages.PIN_PROMPT


def test_it_relays_nothing_for_a_pin_alone(plivo, live_order, second_order):
    response = plivo.signed_post(URL, sms_params(CUSTOMER, live_order.pin, message_uuid="sms-7"))

    assert len(parse(response)) == 0
    record = MessageRecord.objects.get(message_uuid="sms-7")
    assert (record.order, record.outcome) == (live_order, "empty")


def test_it_answers_an_unknown_sender_with_an_empty_response(plivo, live_order):
    response = plivo.signed_post(URL, sms_params("+14155559999", "hello?", message_uuid="sms-8"))

    assert response.content == b"<Response/>"
    record = MessageRecord.objects.get(message_uuid="sms-8")
    assert (record.order, record.sender_role, record.outcome) == (None, "unknown", "unknown")


def test_it_does_not_relay_for_an_order_whose_line_has_closed(plivo, live_order):
    Order.objects.filter(pk=live_order.pk).update(masking_expires_at=timezone.now() - timedelta(minutes=1))

    response = plivo.signed_post(URL, sms_params(CUSTOMER, "still there?"))

    assert response.content == b"<Response/>"


def test_it_answers_an_alphanumeric_sender_with_an_empty_response(plivo, live_order):
    response = plivo.signed_post(URL, sms_params("PLIVO", "promo", message_uuid="sms-9"))

    assert response.content == b"<Response/>"
    assert MessageRecord.objects.get(message_uuid="sms-9").from_number == "PLIVO"


def test_it_escapes_markup_and_drops_characters_xml_cannot_carry(plivo, live_order):
    response = plivo.signed_post(URL, sms_params(CUSTOMER, "<b>fish & chips</b>\x00\x07 ok"))

    assert only_message(response).text == "<b>fish & chips</b> ok"


def test_a_retried_message_uuid_is_not_relayed_again_and_is_recorded_once(plivo, live_order):
    first = plivo.signed_post(URL, sms_params(CUSTOMER, "hello", message_uuid="sms-retry"))
    second = plivo.signed_post(URL, sms_params(CUSTOMER, "hello", message_uuid="sms-retry"))

    assert only_message(first).get("dst") == "14156667778"
    assert second.content == b"<Response/>"
    assert MessageRecord.objects.filter(message_uuid="sms-retry").count() == 1


def test_it_rejects_an_unsigned_message(client, live_order):
    response = client.post(URL, sms_params(CUSTOMER, "hello"))

    assert response.status_code == 403
    assert not MessageRecord.objects.exists()


def test_it_rejects_a_message_signed_with_another_token(client, live_order):
    response = client.post(URL, sms_params(CUSTOMER, "hello"), headers=v2_headers(URL, token="not-the-token"))

    assert response.status_code == 403
    assert not MessageRecord.objects.exists()


def test_it_rejects_a_v3_signature_over_a_different_text(client, live_order):
    params = sms_params(CUSTOMER, "hello")
    nonce = "12345"
    signature = plivo_signature(settings.PUBLIC_BASE_URL + URL, nonce, params=params)

    response = client.post(
        URL,
        {**params, "Text": "tampered"},
        headers={"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce},
    )

    assert response.status_code == 403
    assert not MessageRecord.objects.exists()


def test_it_accepts_a_v2_signed_message(client, live_order):
    response = client.post(URL, sms_params(CUSTOMER, "hello", message_uuid="sms-v2"), headers=v2_headers(URL))

    assert only_message(response).get("dst") == "14156667778"
    assert MessageRecord.objects.get(message_uuid="sms-v2").outcome == "relayed"


def test_it_judges_a_request_with_v3_headers_on_v3_alone(client, live_order):
    headers = {**v2_headers(URL), "X-Plivo-Signature-V3": "bogus", "X-Plivo-Signature-V3-Nonce": "1"}

    response = client.post(URL, sms_params(CUSTOMER, "hello"), headers=headers)

    assert response.status_code == 403
    assert not MessageRecord.objects.exists()


def test_the_answer_url_refuses_a_v2_signature(client, live_order):
    response = client.post("/voice/answer/", call_params("14156667777"), headers=v2_headers("/voice/answer/"))

    assert response.status_code == 403
    assert not CallRecord.objects.exists()


def test_the_message_url_only_accepts_post(plivo, live_order):
    response = plivo.signed_get(URL, sms_params(CUSTOMER, "hello"))

    assert response.status_code == 405


def test_a_database_error_answers_an_empty_response_not_a_spoken_apology(plivo, live_order):
    with mock.patch("voice.messages.resolve", side_effect=DatabaseError("connection lost")):
        response = plivo.signed_post(URL, sms_params(CUSTOMER, "hello"))

    assert response.content == b"<Response/>"
    assert not MessageRecord.objects.exists()


def test_message_records_are_read_only_in_the_admin_and_listed_on_the_order(admin_client, plivo, live_order):
    plivo.signed_post(URL, sms_params(CUSTOMER, "hello", message_uuid="sms-admin"))
    record = MessageRecord.objects.get(message_uuid="sms-admin")

    listing = admin_client.get("/admin/voice/messagerecord/")
    detail = admin_client.get(f"/admin/voice/messagerecord/{record.pk}/change/")
    edit = admin_client.post(f"/admin/voice/messagerecord/{record.pk}/change/", {"outcome": "unknown"})
    order_page = admin_client.get(f"/admin/orders/order/{live_order.pk}/change/")

    assert listing.status_code == 200 and b"sms-admin" in listing.content
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert edit.status_code == 403
    assert b"text messages" in order_page.content.lower()
    record.refresh_from_db()
    assert record.outcome == "relayed"


def test_a_nul_in_the_message_uuid_still_relays_and_records_the_text(plivo, live_order):
    # Postgres text cannot hold NUL: stored as it came, the insert failed and
    # the text was dropped.
    response = plivo.signed_post(URL, sms_params(CUSTOMER, "At the gate", message_uuid="sms-\x00nul"))

    assert only_message(response).text == "At the gate"
    assert MessageRecord.objects.get(message_uuid="sms-nul").outcome == "relayed"
