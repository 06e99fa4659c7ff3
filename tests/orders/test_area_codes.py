"""NANP area codes in allocation: a North American customer gets a proxy number with their own area code.

The order (docs/architecture.md, "Allocation"): the customer's country, then a
number that needs no PIN, then the customer's area code, then the least load.
Other countries allocate exactly as before.
"""

import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber

from orders import services
from orders.models import Agent, Line, Order, ProxyNumber, live_orders
from orders.phones import nanp_area_code
from orders.routing import Action, resolve
from tests.support.concurrency import postgres_only, run_concurrently
from tests.support.world import open_line

pytestmark = pytest.mark.django_db

SAN_FRANCISCO = "+14155550100"
NEW_YORK = "+12125550100"
TORONTO = "+14165550100"
LONDON = "+442071838750"

CUSTOMER_SF = "+14156667777"
CUSTOMER_NY = "+12126667777"


def make_agent(phone: str, name: str = "Agent") -> Agent:
    return Agent.objects.create(name=name, phone=phone)


def give_load(proxy: ProxyNumber, lines: int, *, prefix: str = "+1650666") -> None:
    """``lines`` live orders of strangers on ``proxy`` (their own allocation is overridden)."""
    for n in range(lines):
        order = open_line(f"{prefix}{proxy.pk % 10}{n:03d}", make_agent(f"+1650777{proxy.pk % 10}{n:03d}"))
        Line.objects.filter(order_id=order.pk).update(proxy_number=proxy)


def number_of(order: Order) -> str:
    order.refresh_from_db()
    return str(order.masking.proxy_number.number)


@pytest.mark.parametrize(
    ("number", "area_code"),
    [
        ("+14156667777", "415"),  # US
        ("+16135550100", "613"),  # Canada
        ("+18765550100", "876"),  # Jamaica, a mobile: NANP area codes are places for mobiles too
        ("+18005550100", None),  # toll-free
        ("+18885550100", None),  # toll-free
        ("+19005550100", None),  # premium rate
        ("+15005550100", None),  # personal (5XX)
        ("+447400123456", None),  # GB
        ("+919876543210", None),  # IN
        ("+14151234567", None),  # not a valid number: no exchange starts with 1
        ("", None),
        (None, None),
        ("sip:14156667777@example.com", None),
    ],
)
def test_the_area_code_of_a_number(number, area_code):
    assert nanp_area_code(number) == area_code


def test_the_area_code_of_a_stored_phone_number():
    assert nanp_area_code(PhoneNumber.from_string(CUSTOMER_SF)) == "415"


def test_the_customers_area_code_is_preferred_over_a_less_loaded_number_in_the_country(agent):
    new_york = ProxyNumber.objects.create(number=NEW_YORK)
    san_francisco = ProxyNumber.objects.create(number=SAN_FRANCISCO)
    give_load(san_francisco, 2)

    assert number_of(open_line(CUSTOMER_SF, agent)) == SAN_FRANCISCO
    assert number_of(open_line(CUSTOMER_NY, make_agent("+12126669999"))) == NEW_YORK
    assert new_york.pk < san_francisco.pk  # not the pk tie-break


def test_among_local_numbers_the_least_loaded_wins(agent):
    busy = ProxyNumber.objects.create(number="+14155550101")
    idle = ProxyNumber.objects.create(number="+14155550102")
    ProxyNumber.objects.create(number=NEW_YORK)
    give_load(busy, 1)

    assert number_of(open_line(CUSTOMER_SF, agent)) == str(idle.number)


def test_without_a_local_number_any_in_the_country_comes_before_one_abroad(agent):
    ProxyNumber.objects.create(number=LONDON)
    ProxyNumber.objects.create(number=NEW_YORK)

    order = open_line(CUSTOMER_SF, agent)

    assert number_of(order) == NEW_YORK
    assert resolve(CUSTOMER_SF, "+12125550100").action == Action.CONNECT


def test_a_canadian_customer_gets_a_canadian_number_before_a_us_one_with_another_area_code(agent):
    # Toronto (416) and San Francisco (415) are both +1; the country (CA) still comes first.
    ProxyNumber.objects.create(number=SAN_FRANCISCO)
    toronto = ProxyNumber.objects.create(number=TORONTO)
    give_load(toronto, 2, prefix="+1416666")

    assert number_of(open_line("+16135550199", agent)) == TORONTO


def test_the_only_number_abroad_is_still_used(agent):
    ProxyNumber.objects.create(number=LONDON)

    assert number_of(open_line(CUSTOMER_SF, agent)) == LONDON


def test_a_local_number_that_would_need_a_pin_loses_to_another_area_code_that_needs_none(caplog, agent):
    ProxyNumber.objects.create(number=SAN_FRANCISCO)
    ProxyNumber.objects.create(number=NEW_YORK)
    first = open_line(CUSTOMER_SF, agent)
    assert number_of(first) == SAN_FRANCISCO

    with caplog.at_level(logging.WARNING, logger="orders.services"):
        second = open_line(CUSTOMER_SF, make_agent("+14156669001"))

    assert number_of(second) == NEW_YORK
    assert second.shared_number is None
    assert "pool exhausted" not in caplog.text
    assert resolve(CUSTOMER_SF, "+14155550100").action == Action.CONNECT
    assert resolve(CUSTOMER_SF, "+12125550100").action == Action.CONNECT


def test_the_agents_live_order_counts_as_a_conflict_too(agent):
    ProxyNumber.objects.create(number=SAN_FRANCISCO)
    ProxyNumber.objects.create(number=NEW_YORK)
    assert number_of(open_line("+14156660001", agent)) == SAN_FRANCISCO

    # Another 415 customer, but the same agent already has a line on the 415 number.
    assert number_of(open_line(CUSTOMER_SF, agent)) == NEW_YORK


def test_when_every_number_needs_a_pin_the_local_one_is_shared(caplog, agent):
    ProxyNumber.objects.create(number=NEW_YORK)
    ProxyNumber.objects.create(number=SAN_FRANCISCO)
    assert number_of(open_line(CUSTOMER_SF, agent)) == SAN_FRANCISCO
    assert number_of(open_line(CUSTOMER_SF, make_agent("+14156669001"))) == NEW_YORK

    with caplog.at_level(logging.WARNING, logger="orders.services"):
        third = open_line(CUSTOMER_SF, make_agent("+14156669002"))

    assert number_of(third) == SAN_FRANCISCO
    assert third.shared_number is not None
    assert "at least 5" in caplog.text
    assert resolve(CUSTOMER_SF, "+14155550100").action == Action.ASK_PIN


@pytest.mark.parametrize(
    ("customer", "first", "second"),
    [
        # London customer, London (020) and Manchester (0161) numbers: no area-code rule outside NANP.
        ("+442079460000", "+442071838750", "+441618500000"),
        ("+912212345678", "+912240000000", "+918040000000"),  # Mumbai customer; Mumbai and Bengaluru numbers
    ],
)
def test_other_countries_allocate_by_load_as_before(agent, customer, first, second):
    same_city = ProxyNumber.objects.create(number=first)
    other_city = ProxyNumber.objects.create(number=second)
    give_load(same_city, 1)

    assert number_of(open_line(customer, agent)) == str(other_city.number)


def test_other_countries_take_the_lowest_pk_on_a_tie_as_before(agent):
    manchester = ProxyNumber.objects.create(number="+441618500000")
    ProxyNumber.objects.create(number="+442071838750")

    assert number_of(open_line("+442079460000", agent)) == str(manchester.number)


@pytest.mark.parametrize("customer", ["+18005550199", "+18885550199", "+15005550199"])
def test_a_customer_with_a_non_geographic_number_is_allocated_by_load(agent, customer):
    # A toll-free or personal area code names no place: a pool number sharing it is not local.
    same_prefix = ProxyNumber.objects.create(number="+1" + customer[2:5] + "5550100")
    new_york = ProxyNumber.objects.create(number=NEW_YORK)
    give_load(same_prefix, 1)

    assert number_of(open_line(customer, agent)) == str(new_york.number)


def test_a_toll_free_proxy_number_is_not_local_to_anyone(agent):
    toll_free = ProxyNumber.objects.create(number="+18005550100")
    san_francisco = ProxyNumber.objects.create(number=SAN_FRANCISCO)
    give_load(san_francisco, 1)

    assert number_of(open_line(CUSTOMER_NY, agent)) == str(toll_free.number)
    assert number_of(open_line(CUSTOMER_SF, make_agent("+14156669001"))) == SAN_FRANCISCO


def test_a_deactivated_number_is_replaced_by_a_local_one(agent):
    old = ProxyNumber.objects.create(number=NEW_YORK)
    order = open_line(CUSTOMER_SF, agent)
    ProxyNumber.objects.filter(pk=old.pk).update(is_active=False)
    ProxyNumber.objects.create(number="+12125550101")
    ProxyNumber.objects.create(number=SAN_FRANCISCO)

    services.assign_agent(order, make_agent("+14156669001"))

    assert number_of(order) == SAN_FRANCISCO


def test_reassigning_keeps_the_number_the_customer_knows_even_when_a_local_one_joins_later(agent):
    ProxyNumber.objects.create(number=NEW_YORK)
    order = open_line(CUSTOMER_SF, agent)
    ProxyNumber.objects.create(number=SAN_FRANCISCO)

    services.assign_agent(order, make_agent("+14156669001"))

    assert number_of(order) == NEW_YORK


def test_a_number_given_by_staff_is_used_as_given(agent):
    ProxyNumber.objects.create(number=SAN_FRANCISCO)
    new_york = ProxyNumber.objects.create(number=NEW_YORK)
    order = Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER_SF)

    services.assign_agent(order, agent, proxy_number=new_york)

    assert number_of(order) == NEW_YORK


def assignment_queries(customer: str, agent: Agent) -> int:
    order = Order.objects.create(customer_name="Alice", customer_phone=customer)
    with CaptureQueriesContext(connection) as queries:
        services.assign_agent(order, agent)
    return len(queries)


def test_the_area_code_adds_no_query(agent):
    for number in (SAN_FRANCISCO, NEW_YORK, LONDON, "+441618500000"):
        ProxyNumber.objects.create(number=number)

    nanp = assignment_queries(CUSTOMER_SF, agent)
    elsewhere = assignment_queries("+442079460000", make_agent("+14156669001"))
    toll_free = assignment_queries("+18005550199", make_agent("+14156669002"))

    assert nanp == elsewhere == toll_free


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_assignments_still_give_each_customer_a_local_unambiguous_line():
    ProxyNumber.objects.create(number=SAN_FRANCISCO)
    ProxyNumber.objects.create(number=NEW_YORK)
    customers = [f"+1415666{n:04d}" for n in range(4)] + [f"+1212666{n:04d}" for n in range(4)]
    agents = [make_agent(f"+1650777{n:04d}", name=f"Agent {n}") for n in range(len(customers))]
    orders = [Order.objects.create(customer_name="Customer", customer_phone=phone) for phone in customers]

    results = run_concurrently(
        *[
            lambda order=order, agent=agent: services.assign_agent(order, agent)
            for order, agent in zip(orders, agents, strict=True)
        ]
    )

    assert not [result for result in results if isinstance(result, Exception)]
    live = list(live_orders(timezone.now() + timedelta(seconds=1)).prefetch_related("lines__proxy_number"))
    assert len(live) == len(orders)
    # Nobody shares a party with anyone, so each customer gets their own area code.
    assert {str(order.customer_phone): str(order.masking.proxy_number.number) for order in live} == {
        phone: SAN_FRANCISCO if phone.startswith("+1415") else NEW_YORK for phone in customers
    }
    pins = [(order.masking.proxy_number_id, order.masking.pin) for order in live]
    assert len(set(pins)) == len(pins)
