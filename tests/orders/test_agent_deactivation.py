"""Deactivating an agent stops calls and texts to and from them at once."""

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import services
from orders.models import Agent
from orders.routing import Action, resolve
from tests.support.webhooks import call_params, spoken, xml_of
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY, open_line

pytestmark = pytest.mark.django_db

SUPPORT = "+14155550199"


def deactivate(agent: Agent) -> None:
    agent.is_active = False
    agent.save()


def call(plivo, caller: str):
    return xml_of(plivo.signed_post("/voice/answer/", call_params(caller.lstrip("+"))))


def test_the_customer_hears_not_available_once_the_agent_is_deactivated(plivo, live_order, agent):
    deactivate(agent)

    root = call(plivo, CUSTOMER)

    assert root.find("Dial") is None
    assert spoken(root) == [settings.MASKING_NOT_AVAILABLE_MESSAGE]


def test_the_customer_reaches_support_when_there_is_one(plivo, live_order, agent, settings):
    settings.MASKING_SUPPORT_NUMBER = SUPPORT
    deactivate(agent)

    root = call(plivo, CUSTOMER)

    assert [number.text for number in root.iter("Number")] == [SUPPORT.lstrip("+")]


def test_the_deactivated_agent_no_longer_reaches_the_customer(plivo, live_order, agent, settings):
    deactivate(agent)

    root = call(plivo, AGENT_PHONE)

    assert list(root.iter("Number")) == []
    assert spoken(root) == [settings.MASKING_UNKNOWN_CALLER_MESSAGE]


def test_a_text_to_or_from_a_deactivated_agent_is_not_relayed(plivo, live_order, agent):
    deactivate(agent)
    sms = {"To": PROXY.lstrip("+"), "Type": "sms", "Text": "hello"}

    from_customer = plivo.signed_post("/voice/message/", {**sms, "From": CUSTOMER, "MessageUUID": "m1"})
    from_agent = plivo.signed_post("/voice/message/", {**sms, "From": AGENT_PHONE, "MessageUUID": "m2"})

    assert from_customer.content == from_agent.content == b"<Response/>"


def test_with_two_orders_the_customer_goes_straight_to_the_agent_still_active(plivo, live_order, agent):
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    open_line(CUSTOMER, dave)
    deactivate(agent)

    root = call(plivo, CUSTOMER)

    assert [number.text for number in root.iter("Number")] == [dave.phone.as_e164.lstrip("+")]


def test_a_new_agent_reconnects_the_customer(plivo, live_order, agent):
    deactivate(agent)
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    services.assign_agent(live_order, dave)

    root = call(plivo, CUSTOMER)

    assert [number.text for number in root.iter("Number")] == ["14156667780"]


def test_the_pin_of_an_order_whose_agent_is_inactive_connects_no_one(plivo, live_order, agent):
    second = open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))
    deactivate(agent)
    deactivate(second.agent)

    params = {"CallUUID": "c", "From": CUSTOMER, "To": PROXY, "Digits": live_order.masking.pin}
    root = xml_of(plivo.signed_post("/voice/pin/?attempt=1", params))

    assert root.find("Dial") is None
    assert spoken(root) == [settings.MASKING_NOT_AVAILABLE_MESSAGE]


def test_routing_stays_one_query(live_order, agent):
    deactivate(agent)

    with CaptureQueriesContext(connection) as queries:
        route = resolve(CUSTOMER, PROXY)

    assert route.action == Action.UNAVAILABLE
    assert route.order_id == live_order.pk
    assert len(queries) == 1


def test_deactivating_in_the_admin_lists_the_orders_that_need_a_new_agent(admin_client, live_order, agent):
    url = f"/admin/orders/agent/{agent.pk}/change/"
    response = admin_client.post(url, {"name": agent.name, "phone": agent.phone.as_e164}, follow=True)

    assert response.status_code == 200
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert len(warnings) == 1 and "1 live order(s) need a new agent" in warnings[0]
    listed = admin_client.get("/admin/orders/order/?needs_agent=yes")
    assert [order.pk for order in listed.context["cl"].result_list] == [live_order.pk]
