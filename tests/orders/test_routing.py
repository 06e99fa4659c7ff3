"""orders.routing: who a caller on a proxy number reaches (resolve, resolve_pin)."""

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from orders.models import ProxyNumber, Role
from orders.routing import Action, resolve, resolve_pin
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY, open_line
from voice.plivo.params import Number

pytestmark = pytest.mark.django_db


def resolve_as_sent(caller: str, proxy: str, **options) -> object:
    """Routing of numbers as Plivo sends them: read once at the edge (voice/plivo/params.py), then resolved."""
    return resolve(Number.read(caller).e164, Number.read(proxy).e164, **options)


def resolve_pin_as_sent(caller: str, proxy: str, digits: str, **options) -> object:
    return resolve_pin(Number.read(caller).e164, Number.read(proxy).e164, digits, **options)


@pytest.mark.parametrize("caller", ["14156667777", "+14156667777", " +1 (415) 666-7777 "])
@pytest.mark.parametrize("proxy", ["14155550100", "+14155550100"])
def test_it_routes_the_customer_to_the_agent_in_any_number_form(live_order, caller, proxy):
    route = resolve_as_sent(caller, proxy)

    assert route.action == Action.CONNECT
    assert route.role == Role.CUSTOMER
    assert route.order_id == live_order.pk
    assert route.connect_to == AGENT_PHONE
    assert route.proxy_number == PROXY


@pytest.mark.parametrize("caller", ["14156667778", "+14156667778"])
def test_it_routes_the_agent_to_the_customer(live_order, caller):
    route = resolve_as_sent(caller, "+14155550100")

    assert route.action == Action.CONNECT
    assert route.role == Role.AGENT
    assert route.order_id == live_order.pk
    assert route.connect_to == CUSTOMER


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
def test_a_caller_that_is_not_a_phone_number_is_unknown(live_order, caller):
    assert resolve_as_sent(caller, PROXY).action == Action.UNKNOWN


@pytest.mark.parametrize("proxy", ["sip:14155550100@phone.plivo.com", "", "garbage"])
def test_a_called_number_that_is_not_a_phone_number_is_unknown(live_order, proxy):
    assert resolve_as_sent(CUSTOMER, proxy).action == Action.UNKNOWN


def test_a_customer_calling_another_proxy_number_is_unknown(live_order):
    ProxyNumber.objects.create(number="+14155550101")

    assert resolve_as_sent(CUSTOMER, "+14155550101").action == Action.UNKNOWN


def test_a_caller_with_two_orders_on_the_number_is_asked_for_the_pin(live_order, agent):
    open_line(CUSTOMER, agent)

    assert resolve_as_sent(CUSTOMER, PROXY).action == Action.ASK_PIN


def test_a_pin_narrows_the_lookup_to_that_order(live_order, agent):
    second = open_line(CUSTOMER, agent)

    route = resolve_pin_as_sent(CUSTOMER, PROXY, second.masking.pin)

    assert (route.action, route.order_id) == (Action.CONNECT, second.pk)


def test_a_stranger_who_knows_a_pin_is_unknown(live_order):
    assert resolve_pin_as_sent("+14150001234", "+14155550100", live_order.masking.pin).action == Action.UNKNOWN


phone_like_text = st.one_of(st.text(max_size=40), st.from_regex(r"\+?[0-9 ()./-]{0,34}", fullmatch=True))


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(caller=phone_like_text, proxy=phone_like_text)
def test_whatever_plivo_sends_resolve_never_raises_and_connects_only_the_parties(live_order, caller, proxy):
    route = resolve_as_sent(caller, proxy)

    assert route.action in (Action.CONNECT, Action.UNKNOWN)
    if route.action == Action.CONNECT:
        assert (route.caller, route.proxy_number) in ((CUSTOMER, PROXY), (AGENT_PHONE, PROXY))
