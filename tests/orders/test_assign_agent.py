"""orders.services.assign_agent: opening a masked line, choosing its proxy number and PIN."""

import logging
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from orders import services
from orders.models import Agent, Line, Order, ProxyNumber
from orders.routing import Action, resolve
from tests.support.world import CUSTOMER, open_line

pytestmark = pytest.mark.django_db


def new_order(customer_phone: str = CUSTOMER, name: str = "Alice") -> Order:
    return Order.objects.create(customer_name=name, customer_phone=customer_phone)


def make_agent(phone: str, name: str = "Agent") -> Agent:
    return Agent.objects.create(name=name, phone=phone)


def test_assigning_an_agent_opens_the_line(settings, proxy_number, agent):
    order = new_order()
    before = timezone.now()

    returned = services.assign_agent(order=order, agent=agent)

    order.refresh_from_db()
    assert returned == order
    assert order.agent == agent
    assert order.status == "assigned"
    assert order.masking.proxy_number == proxy_number
    assert len(order.masking.pin) == 4 and order.masking.pin.isdigit()
    ttl = timedelta(seconds=settings.MASKING_SESSION_TTL)
    assert before + ttl <= order.masking.expires_at <= timezone.now() + ttl
    assert order.is_line_live


def test_the_pin_has_the_configured_length(settings, proxy_number, agent):
    settings.MASKING_PIN_LENGTH = 6

    order = open_line(CUSTOMER, agent)

    order.refresh_from_db()
    assert len(order.masking.pin) == 6 and order.masking.pin.isdigit()


def test_it_prefers_a_number_in_the_customers_country(agent):
    us = ProxyNumber.objects.create(number="+14155550100")
    gb = ProxyNumber.objects.create(number="+442071838750")
    assert (us.country, gb.country) == ("US", "GB")

    uk_order = open_line("+447400123456", agent)
    us_order = open_line("+14156667777", make_agent("+14156667780"))

    uk_order.refresh_from_db()
    us_order.refresh_from_db()
    assert uk_order.masking.proxy_number == gb
    assert us_order.masking.proxy_number == us


def test_it_prefers_the_customers_country_over_a_less_loaded_number(agent):
    gb = ProxyNumber.objects.create(number="+442071838750")
    us = ProxyNumber.objects.create(number="+14155550100")
    open_line("+14156660001", make_agent("+14156660101"))

    order = open_line("+14156667777", agent)

    order.refresh_from_db()
    assert order.masking.proxy_number == us
    assert gb.lines.count() == 0


def test_the_customers_country_comes_before_avoiding_a_shared_number(caplog, agent):
    # The allocation order (docs/architecture.md, "Allocation"): country first, then conflicts. A PIN prompt is better
    # than a caller ID from abroad.
    us = ProxyNumber.objects.create(number="+14155550100")
    gb = ProxyNumber.objects.create(number="+442071838750")
    open_line(CUSTOMER, agent)

    with caplog.at_level(logging.WARNING, logger="orders.services"):
        second = open_line(CUSTOMER, make_agent("+14156667780"))

    second.refresh_from_db()
    assert second.masking.proxy_number == us
    assert gb.lines.count() == 0
    assert "at least 3" in caplog.text


def test_it_falls_back_to_a_foreign_number_when_the_country_has_none(agent):
    gb = ProxyNumber.objects.create(number="+442071838750")

    order = open_line(CUSTOMER, agent)

    order.refresh_from_db()
    assert order.masking.proxy_number == gb
    assert resolve(CUSTOMER, "+442071838750").action == Action.CONNECT


def test_it_avoids_a_number_on_which_the_customer_has_a_live_order(agent):
    first_number = ProxyNumber.objects.create(number="+14155550100")
    second_number = ProxyNumber.objects.create(number="+14155550101")
    first = open_line(CUSTOMER, agent)
    assert first.masking.proxy_number == first_number
    # The other number is busier, but the customer has no order on it.
    others = [open_line(f"+1415666000{i}", make_agent(f"+1415666010{i}")) for i in range(2)]
    Line.objects.filter(order_id__in=[o.pk for o in others]).update(proxy_number=second_number)

    second = open_line(CUSTOMER, make_agent("+14156667780"))

    second.refresh_from_db()
    assert second.masking.proxy_number == second_number
    assert resolve(CUSTOMER, "+14155550100").action == Action.CONNECT
    assert resolve(CUSTOMER, "+14155550101").action == Action.CONNECT


def test_it_avoids_a_number_on_which_the_agent_has_a_live_order(agent):
    first_number = ProxyNumber.objects.create(number="+14155550100")
    second_number = ProxyNumber.objects.create(number="+14155550101")
    assert open_line(CUSTOMER, agent).masking.proxy_number == first_number
    others = [open_line(f"+1415666000{i}", make_agent(f"+1415666010{i}")) for i in range(2)]
    Line.objects.filter(order_id__in=[o.pk for o in others]).update(proxy_number=second_number)

    second = open_line("+14156667779", agent)

    second.refresh_from_db()
    assert second.masking.proxy_number == second_number
    assert resolve(str(agent.phone), "+14155550100").connect_to == CUSTOMER
    assert resolve(str(agent.phone), "+14155550101").connect_to == "+14156667779"


def test_it_picks_the_least_loaded_number(agent):
    numbers = [ProxyNumber.objects.create(number=f"+1415555010{i}") for i in range(3)]
    for i, load in enumerate([2, 0, 1]):
        for j in range(load):
            order = open_line(f"+1415666{i}{j:03d}", make_agent(f"+1415777{i}{j:03d}"))
            Line.objects.filter(order_id=order.pk).update(proxy_number=numbers[i])

    order = open_line(CUSTOMER, agent)

    order.refresh_from_db()
    assert order.masking.proxy_number == numbers[1]


def test_expired_lines_do_not_count_as_load(agent):
    busy = ProxyNumber.objects.create(number="+14155550100")
    idle = ProxyNumber.objects.create(number="+14155550101")
    orders = [open_line(f"+1415666000{i}", make_agent(f"+1415666010{i}")) for i in range(3)]
    # Two lines that ended on one number, one live line on the other.
    Line.objects.filter(order_id__in=[orders[0].pk, orders[1].pk]).update(
        proxy_number=busy, expires_at=timezone.now() - timedelta(seconds=1)
    )
    Line.objects.filter(order_id=orders[2].pk).update(proxy_number=idle)

    order = open_line(CUSTOMER, agent)

    order.refresh_from_db()
    assert order.masking.proxy_number == busy


def test_it_skips_inactive_numbers(agent):
    ProxyNumber.objects.create(number="+14155550100", is_active=False)
    active = ProxyNumber.objects.create(number="+14155550101")

    order = open_line(CUSTOMER, agent)

    order.refresh_from_db()
    assert order.masking.proxy_number == active


def test_an_exhausted_pool_shares_a_number_and_warns_with_the_pool_size_needed(caplog, proxy_number, agent):
    first = open_line(CUSTOMER, agent)

    with caplog.at_level(logging.WARNING, logger="orders.services"):
        second = open_line(CUSTOMER, make_agent("+14156667780"))

    second.refresh_from_db()
    assert second.masking.proxy_number == first.masking.proxy_number == proxy_number
    assert second.masking.pin != first.masking.pin
    assert second.is_line_live
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "pool has 1 active number" in warnings[0]
    assert "at least 3" in warnings[0]
    assert second.reference in warnings[0]
    assert resolve(CUSTOMER, "+14155550100").action == Action.ASK_PIN


def test_the_warning_counts_the_busiest_party(caplog, proxy_number, agent):
    for i in range(3):
        open_line(f"+1415666000{i}", agent)

    with caplog.at_level(logging.WARNING, logger="orders.services"):
        open_line("+14156660009", agent)

    assert "at least 7" in caplog.records[-1].getMessage()
    assert caplog.records[-1].levelno == logging.WARNING


def test_it_does_not_warn_when_the_pool_suffices(caplog, agent):
    ProxyNumber.objects.create(number="+14155550100")
    ProxyNumber.objects.create(number="+14155550101")

    with caplog.at_level(logging.WARNING, logger="orders.services"):
        open_line(CUSTOMER, agent)
        open_line(CUSTOMER, make_agent("+14156667780"))

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_an_empty_pool_is_a_validation_error(agent):
    order = new_order()

    with pytest.raises(ValidationError) as raised:
        services.assign_agent(order, agent)

    assert raised.value.code == "empty_pool"
    assert "pool is empty" in raised.value.messages[0]
    order.refresh_from_db()
    assert (order.agent, order.masking, order.status) == (None, None, "placed")


def test_a_pool_of_only_inactive_numbers_is_empty(agent):
    ProxyNumber.objects.create(number="+14155550100", is_active=False)
    order = new_order()

    with pytest.raises(ValidationError) as raised:
        services.assign_agent(order, agent)

    assert raised.value.code == "empty_pool"
    order.refresh_from_db()
    assert order.masking is None


def test_pins_are_unique_among_live_orders_on_a_number(settings, proxy_number, agent):
    settings.MASKING_PIN_LENGTH = 1

    orders = [open_line(f"+1415666000{i}", agent) for i in range(10)]

    pins = [Order.objects.get(pk=order.pk).masking.pin for order in orders]
    assert sorted(pins) == [str(digit) for digit in range(10)]


def test_it_refuses_an_eleventh_one_digit_pin_on_a_full_number(settings, proxy_number, agent):
    settings.MASKING_PIN_LENGTH = 1
    for i in range(10):
        open_line(f"+1415666000{i}", agent)
    order = new_order("+14156660010")

    with pytest.raises(ValidationError) as raised:
        services.assign_agent(order, agent)

    assert raised.value.code == "pins_exhausted"
    order.refresh_from_db()
    assert (order.agent, order.masking) == (None, None)


def test_a_pin_of_an_expired_order_can_be_used_again(settings, proxy_number, agent):
    settings.MASKING_PIN_LENGTH = 1
    orders = [open_line(f"+1415666000{i}", agent) for i in range(10)]
    Line.objects.filter(order_id=orders[3].pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    order = open_line("+14156660010", agent)

    order.refresh_from_db()
    assert order.masking.pin == Order.objects.get(pk=orders[3].pk).masking.pin


def test_reassigning_the_agent_keeps_the_proxy_number(proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    first_pin = order.masking.pin
    # A fresh, empty number appears; the customer still knows the old one.
    ProxyNumber.objects.create(number="+14155550000")
    dave = make_agent("+14156667780", "Dave")

    services.assign_agent(order, dave)

    order.refresh_from_db()
    assert order.agent == dave
    assert order.masking.proxy_number == proxy_number
    assert order.masking.pin == first_pin
    assert order.is_line_live
    assert resolve(CUSTOMER, "+14155550100").connect_to == "+14156667780"
    assert resolve(str(agent.phone), "+14155550100").action == Action.UNKNOWN


def test_reassigning_a_picked_up_order_keeps_its_status(proxy_number, agent):
    order = services.mark_picked_up(open_line(CUSTOMER, agent))

    services.assign_agent(order, make_agent("+14156667780"))

    order.refresh_from_db()
    assert order.status == "picked_up"
    assert order.masking.proxy_number == proxy_number


def test_reassigning_moves_off_a_deactivated_number(proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    proxy_number.is_active = False
    proxy_number.save()
    replacement = ProxyNumber.objects.create(number="+14155550101")

    services.assign_agent(order, make_agent("+14156667780"))

    order.refresh_from_db()
    assert order.masking.proxy_number == replacement


def test_assigning_an_inactive_agent_is_refused(proxy_number):
    order = new_order()
    retired = Agent.objects.create(name="Retired", phone="+14156667790", is_active=False)

    with pytest.raises(ValidationError) as raised:
        services.assign_agent(order, retired)

    assert raised.value.code == "inactive_agent"
    order.refresh_from_db()
    assert order.agent is None


@pytest.mark.parametrize("finish", [services.mark_delivered, services.cancel_order])
def test_a_finished_order_cannot_get_an_agent(proxy_number, agent, finish):
    order = finish(open_line(CUSTOMER, agent))

    with pytest.raises(ValidationError) as raised:
        services.assign_agent(order, make_agent("+14156667780"))

    assert raised.value.code == "invalid_transition"
    order.refresh_from_db()
    assert order.agent == agent
