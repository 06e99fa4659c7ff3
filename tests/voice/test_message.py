"""The message webhook (/voice/message/): texts relayed between the parties of a live order."""

import logging
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services
from orders.models import Agent, Line, Order
from tests.support.webhooks import sms_params, xml_of
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY, wrong_pin
from voice import messages
from voice.models import MessageRecord

pytestmark = pytest.mark.django_db

URL = "/voice/message/"


def only_message(response) -> ET.Element:
    root = xml_of(response)
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
    assert order.masking.proxy_number_id == live_order.masking.proxy_number_id
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
    response = plivo.signed_post(URL, sms_params(CUSTOMER, f"{live_order.masking.pin} Main Street, flat 2"))

    assert only_message(response).text == f"{live_order.masking.pin} Main Street, flat 2"


def test_it_asks_a_sender_with_two_orders_on_the_number_for_the_order_pin(plivo, live_order, second_order):
    response = plivo.signed_post(URL, sms_params(CUSTOMER, "Where are you?", message_uuid="sms-4"))

    message = only_message(response)
    assert message.get("src") == "14155550100"
    assert message.get("dst") == "14156667777"
    assert message.text == messages.PIN_PROMPT
    record = MessageRecord.objects.get(message_uuid="sms-4")
    assert (record.order, record.outcome, record.relayed_to) == (None, "pin_prompted", "")


def test_it_relays_a_pin_prefixed_text_to_that_orders_agent_without_the_pin(plivo, live_order, second_order):
    response = plivo.signed_post(
        URL, sms_params(CUSTOMER, f"{second_order.masking.pin}: Where are you?", message_uuid="sms-5")
    )

    message = only_message(response)
    assert message.get("dst") == "14156660001"
    assert message.text == "Where are you?"
    record = MessageRecord.objects.get(message_uuid="sms-5")
    assert (record.order, record.outcome, record.relayed_to) == (second_order, "relayed", "+14156660001")


def test_it_routes_the_first_order_by_its_own_pin(plivo, live_order, second_order):
    response = plivo.signed_post(URL, sms_params(CUSTOMER, f"  {live_order.masking.pin} Leave it at the door"))

    message = only_message(response)
    assert message.get("dst") == "14156667778"
    assert message.text == "Leave it at the door"


def test_it_asks_again_when_the_pin_matches_no_order_of_the_sender(plivo, live_order, second_order):
    wrong = wrong_pin(live_order, second_order)

    response = plivo.signed_post(URL, sms_params(CUSTOMER, f"{wrong} hello", message_uuid="sms-6"))

    message = only_message(response)
    assert message.get("dst") == "14156667777"
    assert message.text == messages.PIN_RETRY
    assert MessageRecord.objects.get(message_uuid="sms-6").outcome == "pin_prompted"


def test_it_does_not_take_a_longer_number_for_a_pin(plivo, live_order, second_order):
    response = plivo.signed_post(URL, sms_params(CUSTOMER, f"{live_order.masking.pin}5 is my flat"))

    assert only_message(response).text == messages.PIN_PROMPT


def test_it_relays_nothing_for_a_pin_alone(plivo, live_order, second_order):
    response = plivo.signed_post(URL, sms_params(CUSTOMER, live_order.masking.pin, message_uuid="sms-7"))

    assert len(xml_of(response)) == 0
    record = MessageRecord.objects.get(message_uuid="sms-7")
    assert (record.order, record.outcome) == (live_order, "empty")


def test_it_answers_an_unknown_sender_with_an_empty_response(plivo, live_order):
    response = plivo.signed_post(URL, sms_params("+14155559999", "hello?", message_uuid="sms-8"))

    assert response.content == b"<Response/>"
    record = MessageRecord.objects.get(message_uuid="sms-8")
    assert (record.order, record.sender_role, record.outcome) == (None, "unknown", "unknown")


def test_it_does_not_relay_for_an_order_whose_line_has_closed(plivo, live_order):
    Line.objects.filter(order_id=live_order.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

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


def test_a_nul_in_the_message_uuid_still_relays_and_records_the_text(plivo, live_order):
    # Postgres text cannot hold NUL: stored as it came, the insert failed and
    # the text was dropped.
    response = plivo.signed_post(URL, sms_params(CUSTOMER, "At the gate", message_uuid="sms-\x00nul"))

    assert only_message(response).text == "At the gate"
    assert MessageRecord.objects.get(message_uuid="sms-nul").outcome == "relayed"
