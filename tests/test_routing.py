"""Who reaches whom: orders.routing.resolve and the answer webhook built on it."""

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from orders import services
from orders.models import Agent, ProxyNumber, Role
from orders.routing import Action, resolve
from voice.models import CallRecord

from .conftest import AGENT_PHONE, CUSTOMER, PROXY, PlivoClient, call_params, open_line, spoken, xml_of

pytestmark = pytest.mark.django_db

UNKNOWN_MESSAGE = "Sorry, we could not find an active delivery for this number. Goodbye."


def answer(plivo: PlivoClient, caller: str, proxy: str = PROXY, call_uuid: str = "call-1") -> ET.Element:
    return xml_of(plivo.signed_post("/voice/answer/", call_params(caller, proxy, call_uuid=call_uuid)))


def assert_hears_unknown_message(root: ET.Element) -> None:
    assert root.find("Dial") is None
    assert spoken(root) == [UNKNOWN_MESSAGE]
    assert root.find("Hangup") is not None


@pytest.mark.parametrize("caller", ["14156667777", "+14156667777", " +1 (415) 666-7777 "])
@pytest.mark.parametrize("proxy", ["14155550100", "+14155550100"])
def test_it_routes_the_customer_to_the_agent_in_any_number_form(live_order, caller, proxy):
    route = resolve(caller, proxy)

    assert route.action == Action.CONNECT
    assert route.role == Role.CUSTOMER
    assert route.order_id == live_order.pk
    assert route.connect_to == AGENT_PHONE
    assert route.proxy_number == PROXY


@pytest.mark.parametrize("caller", ["14156667778", "+14156667778"])
def test_it_routes_the_agent_to_the_customer(live_order, caller):
    route = resolve(caller, "14155550100")

    assert route.action == Action.CONNECT
    assert route.role == Role.AGENT
    assert route.order_id == live_order.pk
    assert route.connect_to == CUSTOMER


def test_the_webhook_connects_the_customer_to_the_agent(plivo, live_order):
    root = answer(plivo, "14156667777")

    dial = root.find("Dial")
    assert dial.get("callerId") == "14155550100"
    assert dial.get("action") == "http://masking.example.com/voice/dial-status/"
    assert dial.get("timeout") == "30"
    assert dial.get("timeLimit") == "3600"
    assert [number.text for number in dial.findall("Number")] == ["14156667778"]
    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.order, record.caller_role, record.dialled_number) == (live_order, "customer", AGENT_PHONE)


def test_the_webhook_connects_the_agent_to_the_customer(plivo, live_order):
    root = answer(plivo, "+14156667778", proxy="+14155550100")

    dial = root.find("Dial")
    assert dial.get("callerId") == "14155550100"
    assert [number.text for number in dial.findall("Number")] == ["14156667777"]
    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.order, record.caller_role, record.dialled_number) == (live_order, "agent", CUSTOMER)


def test_the_webhook_uses_the_ring_timeout_and_call_limit_settings(settings, plivo, live_order):
    settings.MASKING_RING_TIMEOUT = 20
    settings.MASKING_CALL_TIME_LIMIT = 600

    dial = answer(plivo, "14156667777").find("Dial")

    assert (dial.get("timeout"), dial.get("timeLimit")) == ("20", "600")


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
def test_it_treats_a_caller_that_is_not_a_phone_number_as_unknown(plivo, live_order, caller):
    assert resolve(caller, PROXY).action == Action.UNKNOWN

    root = answer(plivo, caller)

    assert_hears_unknown_message(root)
    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.order, record.outcome, record.caller_role) == (None, "unknown", "unknown")


@pytest.mark.parametrize("proxy", ["sip:14155550100@phone.plivo.com", "", "garbage"])
def test_it_treats_a_called_number_that_is_not_a_phone_number_as_unknown(plivo, live_order, proxy):
    assert resolve(CUSTOMER, proxy).action == Action.UNKNOWN

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


def test_a_customer_calling_another_proxy_number_is_unknown(plivo, live_order):
    ProxyNumber.objects.create(number="+14155550101")

    assert resolve(CUSTOMER, "+14155550101").action == Action.UNKNOWN
    assert_hears_unknown_message(answer(plivo, "14156667777", proxy="14155550101"))


def test_it_does_not_connect_an_expired_line(plivo, live_order):
    live_order.masking_expires_at = timezone.now() - timedelta(seconds=1)
    live_order.save()

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


def test_it_connects_a_delivered_order_within_the_grace_period(settings, plivo, live_order):
    before = timezone.now()
    services.mark_delivered(live_order)

    dial = answer(plivo, "14156667777").find("Dial")

    assert dial.find("Number").text == "14156667778"
    live_order.refresh_from_db()
    assert live_order.status == "delivered"
    grace = timedelta(seconds=settings.MASKING_GRACE_PERIOD)
    assert before + grace <= live_order.masking_expires_at <= timezone.now() + grace


def test_it_does_not_connect_a_delivered_order_after_the_grace_period(settings, plivo, live_order):
    services.mark_delivered(live_order)
    live_order.refresh_from_db()
    # The grace period passes.
    live_order.masking_expires_at -= timedelta(seconds=settings.MASKING_GRACE_PERIOD + 1)
    live_order.save()

    assert_hears_unknown_message(answer(plivo, "14156667777"))
    assert_hears_unknown_message(answer(plivo, "14156667778", call_uuid="call-2"))


def test_it_does_not_connect_a_cancelled_order(plivo, live_order):
    services.cancel_order(live_order)

    assert_hears_unknown_message(answer(plivo, "14156667777"))
    assert_hears_unknown_message(answer(plivo, "14156667778", call_uuid="call-2"))
    live_order.refresh_from_db()
    assert live_order.status == "cancelled"
    assert not live_order.is_line_live


def test_each_customer_reaches_their_own_agent_on_a_shared_number(plivo, proxy_number):
    bob = Agent.objects.create(name="Bob", phone="+14156667778")
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    open_line("+14156667777", bob)
    open_line("+14156667779", dave)

    first = answer(plivo, "14156667777", call_uuid="call-1").find("Dial")
    second = answer(plivo, "14156667779", call_uuid="call-2").find("Dial")

    assert first.find("Number").text == "14156667778"
    assert second.find("Number").text == "14156667780"


def test_the_answer_webhook_does_one_lookup_and_one_insert(plivo, live_order, django_assert_num_queries):
    with django_assert_num_queries(2):
        root = answer(plivo, "14156667777")

    assert root.find("Dial") is not None
    assert CallRecord.objects.count() == 1


phone_like_text = st.one_of(st.text(max_size=40), st.from_regex(r"\+?[0-9 ()./-]{0,34}", fullmatch=True))


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(caller=phone_like_text, proxy=phone_like_text)
def test_whatever_plivo_sends_resolve_never_raises_and_connects_only_the_parties(live_order, caller, proxy):
    route = resolve(caller, proxy)

    assert route.action in (Action.CONNECT, Action.UNKNOWN)
    if route.action == Action.CONNECT:
        assert (route.caller, route.proxy_number) in ((CUSTOMER, PROXY), (AGENT_PHONE, PROXY))
