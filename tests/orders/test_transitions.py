"""An order's life after it is placed: its reference, picked up, delivered, cancelled (orders.services)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from orders import services
from orders.models import Line, Order
from tests.support.world import CUSTOMER, open_line

pytestmark = pytest.mark.django_db


def new_order(customer_phone: str = CUSTOMER, name: str = "Alice") -> Order:
    return Order.objects.create(customer_name=name, customer_phone=customer_phone)


def test_an_order_gets_a_reference_when_none_is_given(db):
    first, second = new_order(), new_order("+14156667779")

    assert len(first.reference) == 8
    assert first.reference != second.reference
    assert Order.objects.get(pk=first.pk).reference == first.reference


def test_marking_picked_up_keeps_the_line_open(proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    expires_at = order.masking.expires_at

    services.mark_picked_up(order=order)

    order.refresh_from_db()
    assert order.status == "picked_up"
    assert order.masking.expires_at == expires_at


def test_delivering_shortens_the_line_to_the_grace_period(settings, proxy_number, agent):
    order = open_line(CUSTOMER, agent)

    before = timezone.now()

    services.mark_delivered(order=order)

    order.refresh_from_db()
    assert order.status == "delivered"
    assert order.is_line_live
    grace = timedelta(seconds=settings.MASKING_GRACE_PERIOD)
    assert before + grace <= order.masking.expires_at <= timezone.now() + grace


def test_delivering_never_extends_a_line(settings, proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    soon = timezone.now() + timedelta(minutes=5)
    Line.objects.filter(order_id=order.pk).update(expires_at=soon)

    services.mark_delivered(order)

    order.refresh_from_db()
    assert order.masking.expires_at == soon


def test_cancelling_closes_the_line_at_once(proxy_number, agent):
    order = open_line(CUSTOMER, agent)

    services.cancel_order(order=order)

    order.refresh_from_db()
    assert order.status == "cancelled"
    assert not order.is_line_live
    assert order.masking.proxy_number == proxy_number


def test_a_placed_order_can_be_cancelled(db):
    order = new_order()

    services.cancel_order(order)

    order.refresh_from_db()
    assert order.status == "cancelled"
    assert order.masking is None


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ([services.cancel_order], services.mark_delivered),
        ([services.cancel_order], services.mark_picked_up),
        ([services.mark_delivered], services.cancel_order),
        ([services.mark_delivered], services.mark_picked_up),
    ],
)
def test_it_refuses_a_transition_from_a_finished_or_later_state(proxy_number, agent, setup, action):
    order = open_line(CUSTOMER, agent)
    for step in setup:
        step(order)
    order.refresh_from_db()
    status, expires_at = order.status, order.masking.expires_at

    with pytest.raises(ValidationError) as raised:
        action(order)

    assert raised.value.code == "invalid_transition"
    assert order.reference in raised.value.messages[0]
    order.refresh_from_db()
    assert (order.status, order.masking.expires_at) == (status, expires_at)


@pytest.mark.parametrize("action", [services.mark_picked_up, services.mark_delivered, services.cancel_order])
def test_a_repeated_transition_succeeds_and_changes_nothing(proxy_number, agent, action):
    order = action(open_line(CUSTOMER, agent))
    updated_at, expires_at = order.updated_at, order.masking.expires_at

    again = action(order)

    assert again.status == order.status
    again.refresh_from_db()
    assert (again.updated_at, again.masking.expires_at) == (updated_at, expires_at)


@pytest.mark.parametrize("action", [services.mark_picked_up, services.mark_delivered])
def test_an_order_without_an_agent_cannot_be_picked_up_or_delivered(db, action):
    order = new_order()

    with pytest.raises(ValidationError):
        action(order)

    order.refresh_from_db()
    assert order.status == "placed"
