"""The pool advice (orders.pool): 2N − 1 numbers per country, N the busiest party's live orders."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services
from orders.models import Agent, Line, Order, ProxyNumber
from orders.pool import PoolAdvice, live_lines_per_number, numbers_needed, pool_advice
from tests.support.world import open_line

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("busiest", "needed"), [(0, 0), (1, 1), (2, 3), (3, 5), (10, 19)])
def test_a_country_needs_two_n_minus_one_numbers(busiest, needed):
    assert numbers_needed(busiest) == needed


def test_the_advice_counts_the_busiest_customer_or_agent_per_country():
    for number in ("+14155550100", "+14155550101", "+442079460000"):
        ProxyNumber.objects.create(number=number)
    ProxyNumber.objects.create(number="+14155550102", is_active=False)
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    erin = Agent.objects.create(name="Erin", phone="+14156667781")
    # US: Dave holds three live lines, the busiest party; one customer holds two.
    open_line("+14156660001", dave)
    open_line("+14156660001", dave)
    open_line("+14156660002", dave)
    open_line("+14156660003", erin)
    # A delivered order past its grace period no longer counts.
    gone = open_line("+14156660004", erin)
    Line.objects.filter(order_id=gone.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # GB: one customer with one line.
    open_line("+442079460001", Agent.objects.create(name="Fay", phone="+442079460002"))

    advice = pool_advice()

    assert advice == [
        PoolAdvice(country="GB", busiest_party_orders=1, pool_size=1, numbers_needed=1),
        PoolAdvice(country="US", busiest_party_orders=3, pool_size=2, numbers_needed=5),
    ]
    assert [a.numbers_to_add for a in advice] == [0, 3]


def test_a_country_with_numbers_but_no_live_line_needs_nothing_more():
    ProxyNumber.objects.create(number="+14155550100")

    (advice,) = pool_advice()

    assert (advice.country, advice.busiest_party_orders, advice.pool_size, advice.numbers_to_add) == ("US", 0, 1, 0)


def test_live_lines_per_number_lists_every_number_busiest_first(agent):
    quiet = ProxyNumber.objects.create(number="+14155550101")
    busy = ProxyNumber.objects.create(number="+14155550100")
    for customer in ("+14156660001", "+14156660002"):
        order = Order.objects.create(customer_name="C", customer_phone=customer)
        services.assign_agent(order, agent, proxy_number=busy)

    loads = live_lines_per_number()

    assert [(load.number, load.live_lines) for load in loads] == [(str(busy.number), 2), (str(quiet.number), 0)]
