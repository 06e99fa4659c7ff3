"""The PIN webhook routes through the same one-statement lookup, narrowed to the PIN."""

import pytest

from orders import services
from orders.models import Agent, Order
from voice.models import CallRecord

from .conftest import CUSTOMER, call_params

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_order(live_order) -> Order:
    carol = Agent.objects.create(name="Carol", phone="+14156667790")
    return services.assign_agent(Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER), carol)


def test_the_right_pin_connects_the_customer_to_that_orders_agent(plivo, live_order, second_order):
    plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="pin-call"))

    response = plivo.signed_post(
        "/voice/pin/?attempt=1", call_params("14156667777", call_uuid="pin-call", Digits=second_order.pin)
    )

    assert b"<Number>14156667790</Number>" in response.content
    record = CallRecord.objects.get(call_uuid="pin-call")
    assert (record.order, record.outcome) == (second_order, "connected")


def test_a_pin_of_someone_elses_order_does_not_connect_a_stranger(plivo, live_order, second_order):
    response = plivo.signed_post(
        "/voice/pin/?attempt=1", call_params("14155559999", call_uuid="stranger", Digits=second_order.pin)
    )

    assert b"<Dial" not in response.content
    assert b"<GetDigits" in response.content
