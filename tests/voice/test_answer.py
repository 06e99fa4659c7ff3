"""The answer webhook (/voice/answer/): who the caller is put through to, and the call record it starts."""

import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from orders import services
from orders.models import Agent, Line, Order, ProxyNumber
from tests.support.webhooks import answer, assert_apology, call_params, spoken, xml_of
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY, open_line
from voice.models import CallRecord

pytestmark = pytest.mark.django_db

UNKNOWN_MESSAGE = "Sorry, we could not find an active delivery for this number. Goodbye."


def assert_hears_unknown_message(root) -> None:
    assert root.find("Dial") is None
    assert spoken(root) == [UNKNOWN_MESSAGE]
    assert root.find("Hangup") is not None


@pytest.fixture
def second_order(live_order) -> Order:
    """The same customer with a second live order on the same (only) proxy number."""
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    return open_line(CUSTOMER, dave)


# Routing outcomes


def test_it_connects_the_customer_to_the_agent(plivo, live_order):
    root = answer(plivo, "14156667777")

    dial = root.find("Dial")
    assert dial.get("callerId") == "14155550100"
    assert dial.get("action") == "http://masking.example.com/voice/dial-status/"
    assert dial.get("timeout") == "30"
    assert dial.get("timeLimit") == "3600"
    assert [number.text for number in dial.findall("Number")] == ["14156667778"]
    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.order, record.caller_role, record.outcome) == (live_order, "customer", "connected")
    assert (record.from_number, record.proxy_number, record.dialled_number) == (CUSTOMER, PROXY, AGENT_PHONE)
    assert record.started_at is not None
    assert record.ended_at is None


def test_it_connects_the_agent_to_the_customer(plivo, live_order):
    root = answer(plivo, "+14156667778", proxy="+14155550100")

    dial = root.find("Dial")
    assert dial.get("callerId") == "14155550100"
    assert [number.text for number in dial.findall("Number")] == ["14156667777"]
    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.order, record.caller_role, record.dialled_number) == (live_order, "agent", CUSTOMER)


@pytest.mark.parametrize("path", ["/voice/answer/", "/numbermasking/handle_incoming/"])
@pytest.mark.parametrize("method", ["signed_get", "signed_post"])
def test_both_answer_urls_connect_a_call_by_get_or_post(plivo, live_order, path, method):
    # /numbermasking/handle_incoming/ is the URL of the Plivo tutorial this service replaces.
    root = xml_of(getattr(plivo, method)(path, call_params("14156667777", call_uuid="the-call")))

    dial = root.find("Dial")
    assert dial.get("callerId") == "14155550100"
    assert dial.find("Number").text == "14156667778"
    assert CallRecord.objects.get(call_uuid="the-call").order == live_order


def test_it_uses_the_ring_timeout_and_call_limit_settings(settings, plivo, live_order):
    settings.MASKING_RING_TIMEOUT = 20
    settings.MASKING_CALL_TIME_LIMIT = 600

    dial = answer(plivo, "14156667777").find("Dial")

    assert (dial.get("timeout"), dial.get("timeLimit")) == ("20", "600")


def test_each_customer_reaches_their_own_agent_on_a_shared_number(plivo, proxy_number):
    bob = Agent.objects.create(name="Bob", phone="+14156667778")
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    open_line("+14156667777", bob)
    open_line("+14156667779", dave)

    first = answer(plivo, "14156667777", call_uuid="call-1").find("Dial")
    second = answer(plivo, "14156667779", call_uuid="call-2").find("Dial")

    assert first.find("Number").text == "14156667778"
    assert second.find("Number").text == "14156667780"


def pin_action_attempt(get_digits) -> int:
    url = urlsplit(get_digits.get("action"))
    assert url.path == "/voice/pin/"
    return int(parse_qs(url.query)["attempt"][0])


def test_a_customer_with_two_orders_is_asked_for_the_pin(plivo, second_order):
    root = answer(plivo)

    get_digits = root.find("GetDigits")
    assert get_digits.get("numDigits") == "4"
    assert get_digits.get("log") == "false"
    assert get_digits.get("method") == "POST"
    assert pin_action_attempt(get_digits) == 1
    assert [s.text for s in get_digits.findall("Speak")] == [django_settings.MASKING_PIN_PROMPT]
    assert root.find("Dial") is None
    # Silence at the prompt falls through to a goodbye.
    assert spoken(root)[-1] == django_settings.MASKING_NO_INPUT_GOODBYE
    assert root[-1].tag == "Hangup"
    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.outcome, record.order, record.caller_role) == ("pin_prompted", None, "customer")


def test_an_agent_with_two_orders_is_asked_for_the_pin(plivo, proxy_number, agent):
    open_line(CUSTOMER, agent)
    open_line("+14156667779", agent)

    root = answer(plivo, caller="14156667778")

    assert root.find("GetDigits") is not None
    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.outcome, record.caller_role) == ("pin_prompted", "agent")


def test_one_live_order_left_connects_without_a_pin(plivo, live_order, second_order):
    Line.objects.filter(order_id=live_order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    root = answer(plivo)

    assert root.find("GetDigits") is None
    assert root.find("Dial").find("Number").text == "14156667780"


@pytest.mark.parametrize(
    "caller",
    [
        "sip:14156667777@phone.plivo.com",
        "sip:alice@example.com",
        "",
        "anonymous",
        "14156667777; DROP TABLE orders_order",
        "1" * 40,
        "+",
    ],
)
def test_a_caller_that_is_not_a_phone_number_hears_the_unknown_caller_message(plivo, live_order, caller):
    root = answer(plivo, caller)

    assert_hears_unknown_message(root)
    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.order, record.outcome, record.caller_role) == (None, "unknown", "unknown")


@pytest.mark.parametrize("proxy", ["sip:14155550100@phone.plivo.com", "", "garbage"])
def test_a_called_number_that_is_not_a_phone_number_gives_the_unknown_caller_message(plivo, live_order, proxy):
    assert_hears_unknown_message(answer(plivo, "14156667777", proxy=proxy))


def test_an_unknown_caller_hears_the_message_and_is_hung_up(plivo, live_order):
    root = answer(plivo, "14150000000")

    assert_hears_unknown_message(root)
    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.outcome, record.order, record.from_number) == ("unknown", None, "+14150000000")


def test_an_unknown_caller_hears_the_configured_message(settings, plivo, live_order):
    settings.MASKING_UNKNOWN_CALLER_MESSAGE = "This line is closed."

    root = answer(plivo, "14150000000")

    assert spoken(root) == ["This line is closed."]
    assert root.find("Hangup") is not None


def test_the_unknown_caller_message_is_escaped_into_valid_xml(settings, plivo, live_order):
    settings.MASKING_UNKNOWN_CALLER_MESSAGE = "Sorry <caller> & goodbye."

    root = answer(plivo, "14150000000")

    assert spoken(root) == ["Sorry <caller> & goodbye."]


def test_an_unknown_caller_is_put_through_to_support_when_configured(settings, plivo, live_order):
    settings.MASKING_SUPPORT_NUMBER = "+14155550199"

    root = answer(plivo, "14150000000")

    dial = root.find("Dial")
    assert dial.get("callerId") == "14155550100"
    assert [number.text for number in dial.findall("Number")] == ["14155550199"]
    assert spoken(root) == []
    assert CallRecord.objects.get(call_uuid="call-1").outcome == "unknown"


def test_a_sip_caller_is_put_through_to_support_when_configured(settings, plivo, live_order):
    settings.MASKING_SUPPORT_NUMBER = "14155550199"

    dial = answer(plivo, "sip:someone@example.com").find("Dial")

    assert dial.get("callerId") == "14155550100"
    assert dial.find("Number").text == "14155550199"


def test_a_customer_calling_another_proxy_number_hears_the_unknown_caller_message(plivo, live_order):
    ProxyNumber.objects.create(number="+14155550101")

    assert_hears_unknown_message(answer(plivo, "14156667777", proxy="14155550101"))


def test_it_does_not_connect_an_expired_line(plivo, live_order):
    live_order.masking.expires_at = timezone.now() - timedelta(seconds=1)
    live_order.masking.save()

    assert_hears_unknown_message(answer(plivo, "14156667777"))
    assert_hears_unknown_message(answer(plivo, "14156667778", call_uuid="call-2"))
    live_order.refresh_from_db()
    assert not live_order.is_line_live


def test_it_connects_a_picked_up_order(plivo, live_order):
    services.mark_picked_up(live_order)

    dial = answer(plivo, "14156667777").find("Dial")

    assert dial.find("Number").text == "14156667778"
    live_order.refresh_from_db()
    assert live_order.status == "picked_up"


def test_it_connects_a_delivered_order_within_the_grace_period(plivo, live_order):
    services.mark_delivered(live_order)

    dial = answer(plivo, "14156667777").find("Dial")

    assert dial.find("Number").text == "14156667778"
    live_order.refresh_from_db()
    assert live_order.status == "delivered"


def test_it_does_not_connect_a_delivered_order_after_the_grace_period(settings, plivo, live_order):
    services.mark_delivered(live_order)
    live_order.refresh_from_db()
    # The grace period passes.
    live_order.masking.expires_at -= timedelta(seconds=settings.MASKING_GRACE_PERIOD + 1)
    live_order.masking.save()

    assert_hears_unknown_message(answer(plivo, "14156667777"))
    assert_hears_unknown_message(answer(plivo, "14156667778", call_uuid="call-2"))


def test_it_does_not_connect_a_cancelled_order(plivo, live_order):
    services.cancel_order(live_order)

    assert_hears_unknown_message(answer(plivo, "14156667777"))
    assert_hears_unknown_message(answer(plivo, "14156667778", call_uuid="call-2"))
    live_order.refresh_from_db()
    assert live_order.status == "cancelled"
    assert not live_order.is_line_live


# The call record


def test_two_calls_make_two_records(plivo, live_order):
    answer(plivo, call_uuid="call-1")
    answer(plivo, caller="14156667778", call_uuid="call-2")

    roles = dict(CallRecord.objects.values_list("call_uuid", "caller_role"))
    assert roles == {"call-1": "customer", "call-2": "agent"}


def test_a_retried_answer_hears_the_apology_and_keeps_the_first_record(plivo, live_order, caplog):
    caplog.set_level(logging.WARNING)
    first = plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="retried"))
    retried = plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="retried"))

    # Only the first answer for a CallUUID reveals a number (tests/voice/test_replays.py).
    assert xml_of(first).find("Dial/Number").text == "14156667778"
    assert_apology(xml_of(retried))
    record = CallRecord.objects.get()
    assert (record.call_uuid, record.order, record.outcome) == ("retried", live_order, "connected")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_an_answer_without_a_call_uuid_reveals_no_number_and_records_nothing(plivo, live_order):
    data = call_params("14156667777")
    del data["CallUUID"]

    root = xml_of(plivo.signed_post("/voice/answer/", data))

    # Nothing tells a replay from the first request here: no number (voice.calls.answer).
    assert root.find("Dial") is None
    assert not CallRecord.objects.exists()


# What one answer costs the database: a lookup and an insert, whatever the caller.


def test_a_known_customer_costs_one_lookup_and_one_insert(plivo, live_order, django_assert_num_queries):
    with django_assert_num_queries(2):
        root = answer(plivo, "14156667777", call_uuid="known-1")

    assert root.find("Dial") is not None
    assert CallRecord.objects.get(call_uuid="known-1").order == live_order


def test_a_known_agent_costs_one_lookup_and_one_insert(plivo, live_order, django_assert_num_queries):
    with django_assert_num_queries(2):
        root = answer(plivo, "14156667778", call_uuid="known-2")

    assert root.find("Dial/Number").text == "14156667777"
    assert CallRecord.objects.get(call_uuid="known-2").caller_role == "agent"


def test_an_ambiguous_caller_costs_one_lookup_and_one_insert(plivo, second_order, django_assert_num_queries):
    with django_assert_num_queries(2):
        root = answer(plivo, "14156667777", call_uuid="ambiguous")

    assert root.find("GetDigits") is not None
    assert CallRecord.objects.get(call_uuid="ambiguous").outcome == "pin_prompted"


def test_an_unknown_caller_costs_one_lookup_and_one_insert(plivo, live_order, django_assert_num_queries):
    with django_assert_num_queries(2):
        answer(plivo, "14155559999", call_uuid="stranger")

    assert CallRecord.objects.get(call_uuid="stranger").outcome == "unknown"


def test_a_caller_that_is_not_a_number_costs_only_the_insert(plivo, live_order, django_assert_num_queries):
    with django_assert_num_queries(1):
        answer(plivo, "sip:alice@example.com", call_uuid="sip")

    assert CallRecord.objects.get(call_uuid="sip").from_number == "sip:alice@example.com"
