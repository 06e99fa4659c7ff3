"""The PIN webhook (/voice/pin/): a caller with several live orders on one proxy number types the order PIN."""

import xml.etree.ElementTree as ET
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from orders.models import Agent, Line, Order
from tests.support.webhooks import answer, spoken, type_pin
from tests.support.world import CUSTOMER, open_line, wrong_pin
from voice.models import CallRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def dave(db) -> Agent:
    return Agent.objects.create(name="Dave", phone="+14156667780")


@pytest.fixture
def two_orders(proxy_number, agent, dave) -> tuple[Order, Order]:
    """One customer, two live orders, one proxy number: the PIN decides."""
    first = open_line(CUSTOMER, agent)
    second = open_line(CUSTOMER, dave)
    assert first.masking.proxy_number == second.masking.proxy_number == proxy_number
    return first, second


def attempt_of(get_digits: ET.Element) -> int:
    url = urlsplit(get_digits.get("action"))
    assert url.path == "/voice/pin/"
    return int(parse_qs(url.query)["attempt"][0])


def test_the_right_pin_connects_the_order_it_belongs_to(plivo, two_orders):
    first, second = two_orders
    answer(plivo)

    root = type_pin(plivo, second.masking.pin)

    dial = root.find("Dial")
    assert dial.get("callerId") == "14155550100"
    assert [n.text for n in dial.findall("Number")] == ["14156667780"]
    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.outcome, record.order, record.dialled_number) == ("connected", second, "+14156667780")


def test_the_other_pin_connects_the_other_order(plivo, two_orders):
    first, second = two_orders

    root = type_pin(plivo, first.masking.pin, call_uuid="call-2")

    assert root.find("Dial").find("Number").text == "14156667778"
    assert CallRecord.objects.get(call_uuid="call-2").order == first


def test_an_agent_types_the_pin_to_reach_the_right_customer(plivo, proxy_number, agent):
    open_line(CUSTOMER, agent)
    other = open_line("+14156667779", agent)

    root = type_pin(plivo, other.masking.pin, caller="14156667778")

    assert root.find("Dial").find("Number").text == "14156667779"


def test_a_wrong_pin_prompts_again_with_the_next_attempt(plivo, two_orders):
    answer(plivo)

    root = type_pin(plivo, wrong_pin(*two_orders))

    get_digits = root.find("GetDigits")
    assert attempt_of(get_digits) == 2
    assert [s.text for s in get_digits.findall("Speak")] == [django_settings.MASKING_PIN_RETRY]
    assert root.find("Dial") is None
    assert CallRecord.objects.get(call_uuid="call-1").outcome == "pin_prompted"


@pytest.mark.parametrize("digits", ["", "12a4", "*#"])
def test_a_pin_that_is_not_digits_prompts_again(plivo, two_orders, digits):
    root = type_pin(plivo, digits)

    assert attempt_of(root.find("GetDigits")) == 2
    assert root.find("Dial") is None


def test_the_second_wrong_pin_prompts_for_the_last_time(plivo, two_orders):
    root = type_pin(plivo, wrong_pin(*two_orders), attempt=2)

    assert attempt_of(root.find("GetDigits")) == 3


def test_after_the_last_wrong_pin_it_says_goodbye_and_rejects_the_call(plivo, two_orders):
    answer(plivo)
    bad = wrong_pin(*two_orders)
    type_pin(plivo, bad, attempt=1)
    type_pin(plivo, bad, attempt=2)

    root = type_pin(plivo, bad, attempt=3)

    assert root.find("GetDigits") is None
    assert root.find("Dial") is None
    assert spoken(root) == [django_settings.MASKING_PIN_GOODBYE]
    assert root[-1].tag == "Hangup"
    record = CallRecord.objects.get(call_uuid="call-1")
    assert record.outcome == "rejected"
    assert record.order is None


def test_the_right_pin_on_the_last_attempt_still_connects(plivo, two_orders):
    first, _ = two_orders

    root = type_pin(plivo, first.masking.pin, attempt=3)

    assert root.find("Dial").find("Number").text == "14156667778"
    assert CallRecord.objects.get(call_uuid="call-1").outcome == "connected"


def test_a_stranger_who_knows_a_pin_is_not_connected(plivo, two_orders):
    first, _ = two_orders

    root = type_pin(plivo, first.masking.pin, caller="14150001234", attempt=3)

    assert root.find("Dial") is None
    assert spoken(root) == [django_settings.MASKING_PIN_GOODBYE]
    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.outcome, record.order, record.dialled_number) == ("rejected", None, "")


def test_a_stranger_who_knows_a_pin_gets_no_further_than_a_re_prompt(plivo, two_orders):
    first, _ = two_orders

    root = type_pin(plivo, first.masking.pin, caller="14150001234")

    assert root.find("Dial") is None
    assert root.find("GetDigits") is not None


def test_the_other_party_of_one_order_cannot_use_the_pin_of_another(plivo, two_orders):
    # Dave delivers the second order; the first order's PIN is not his to use.
    first, second = two_orders

    root = type_pin(plivo, first.masking.pin, caller="14156667780", attempt=3)

    assert root.find("Dial") is None
    assert CallRecord.objects.get(call_uuid="call-1").outcome == "rejected"


def test_a_pin_of_an_expired_order_does_not_connect(plivo, two_orders):
    first, _ = two_orders
    Line.objects.filter(order_id=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    root = type_pin(plivo, first.masking.pin, attempt=3)

    assert root.find("Dial") is None
    assert CallRecord.objects.get(call_uuid="call-1").outcome == "rejected"
