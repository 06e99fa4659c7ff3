"""Allocation spreads new lines over the pool by live lines, not by history."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services
from orders.models import Agent, Order, ProxyNumber

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool() -> tuple[ProxyNumber, ProxyNumber]:
    return ProxyNumber.objects.create(number="+14155550100"), ProxyNumber.objects.create(number="+14155550101")


def _lines(proxy_number: ProxyNumber, count: int, *, expires_in: timedelta) -> None:
    agent = Agent.objects.create(name=f"Busy {proxy_number.pk}", phone=f"+1415666{proxy_number.pk:04d}")
    for i in range(count):
        Order.objects.create(
            customer_name="Other",
            customer_phone=f"+1212555{proxy_number.pk:02d}{i:02d}",
            agent=agent,
            status=Order.Status.ASSIGNED,
            proxy_number=proxy_number,
            pin=f"{i:04d}",
            masking_expires_at=timezone.now() + expires_in,
        )


def _assign_new_order() -> Order:
    agent = Agent.objects.create(name="New", phone="+14156667778")
    order = Order.objects.create(customer_name="Alice", customer_phone="+14156667777")
    return services.assign_agent(order, agent)


def test_a_new_line_goes_to_the_number_with_fewer_live_lines(pool):
    first, second = pool
    _lines(first, 2, expires_in=timedelta(hours=1))
    _lines(second, 1, expires_in=timedelta(hours=1))

    assert _assign_new_order().proxy_number == second


def test_closed_lines_do_not_count_towards_a_numbers_load(pool):
    first, second = pool
    _lines(first, 3, expires_in=-timedelta(hours=1))
    _lines(second, 1, expires_in=timedelta(hours=1))

    assert _assign_new_order().proxy_number == first
