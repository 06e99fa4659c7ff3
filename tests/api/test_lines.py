"""Assigning agents and moving orders through their life, through the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services
from orders.models import Agent, Line, Order, ProxyNumber
from tests.support.api import assert_error
from tests.support.world import CUSTOMER, PROXY
from voice.models import CallRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(db) -> Order:
    return Order.objects.create(reference="A-1", customer_name="Alice", customer_phone=CUSTOMER)


def post(api, order: Order, action: str, data: dict | None = None):
    return api.post(f"/api/v1/orders/{order.reference}/{action}/", data, format="json")


def test_assigning_an_agent_opens_the_line_and_answers_the_masking(api, order, agent, proxy_number):
    before = timezone.now()

    response = post(api, order, "assign", {"agent": agent.pk})

    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == "assigned"
    assert order.agent == agent
    assert order.masking.proxy_number == proxy_number
    assert order.masking.expires_at > before + timedelta(hours=23)
    body = response.json()
    assert body["status"] == "assigned"
    assert body["agent"] == agent.pk
    assert body["masking"]["proxy_number"] == PROXY
    assert body["masking"]["pin"] == order.masking.pin and len(order.masking.pin) == 4
    assert body["masking"]["live"] is True
    assert body["masking"]["expires_at"].startswith(order.masking.expires_at.isoformat()[:19])


def test_assigning_the_same_agent_again_changes_nothing(api, order, agent, proxy_number):
    first = post(api, order, "assign", {"agent": agent.pk}).json()
    order.refresh_from_db()
    updated_at = order.updated_at

    again = post(api, order, "assign", {"agent": agent.pk})

    assert again.status_code == 200
    assert again.json() == first
    order.refresh_from_db()
    assert order.updated_at == updated_at


def test_reassigning_keeps_the_proxy_number_the_customer_knows(api, order, agent, proxy_number):
    post(api, order, "assign", {"agent": agent.pk})
    ProxyNumber.objects.create(number="+14155550101")
    other = Agent.objects.create(name="Dave", phone="+14156667780")

    response = post(api, order, "assign", {"agent": other.pk})

    assert response.status_code == 200
    assert response.json()["agent"] == other.pk
    assert response.json()["masking"]["proxy_number"] == PROXY
    order.refresh_from_db()
    assert order.agent == other


@pytest.mark.parametrize(
    ("data", "reason"),
    [({"agent": 999999}, "No agent with id 999999."), ({"agent": "x"}, "Expected an agent id"), ({}, "required")],
)
def test_assigning_an_unknown_agent_names_the_field(api, order, proxy_number, data, reason):
    response = post(api, order, "assign", data)

    body = assert_error(response, 400, "invalid", fields=("agent",))
    assert reason in body["detail"]
    order.refresh_from_db()
    assert order.status == "placed" and order.agent is None


def test_assigning_an_inactive_agent_names_the_field(api, order, agent, proxy_number):
    agent.is_active = False
    agent.save()

    response = post(api, order, "assign", {"agent": agent.pk})

    body = assert_error(response, 400, "invalid", fields=("agent",))
    assert "inactive" in body["detail"]
    order.refresh_from_db()
    assert order.agent is None and order.masking is None


def test_assigning_with_an_empty_pool_is_503(api, order, agent):
    ProxyNumber.objects.create(number="+14155550100", is_active=False)

    response = post(api, order, "assign", {"agent": agent.pk})

    body = assert_error(response, 503, "empty_pool")
    assert "proxy-number pool is empty" in body["detail"]
    order.refresh_from_db()
    assert order.status == "placed" and order.masking is None


def test_assigning_when_every_pin_is_taken_is_503(api, order, agent, proxy_number, settings):
    settings.MASKING_PIN_LENGTH = 1
    later = timezone.now() + timedelta(hours=1)
    others = Order.objects.bulk_create(
        Order(reference=f"B-{pin}", customer_name="Other", customer_phone="+14156667779") for pin in range(10)
    )
    Line.objects.bulk_create(
        Line(
            order=other,
            kind=Line.Kind.CUSTOMER_AGENT,
            customer_phone="+14156667779",
            proxy_number=proxy_number,
            pin=str(pin),
            expires_at=later,
        )
        for pin, other in enumerate(others)
    )

    response = post(api, order, "assign", {"agent": agent.pk})

    assert_error(response, 503, "pins_exhausted")
    order.refresh_from_db()
    assert order.masking is None


def test_an_unknown_order_is_404_for_every_action(api, agent):
    for action in ("assign", "picked-up", "delivered", "cancel"):
        assert_error(post(api, Order(reference="NOPE"), action, {"agent": agent.pk}), 404, "not_found")
    assert_error(api.get("/api/v1/orders/NOPE/calls/"), 404, "not_found")


def test_an_order_goes_from_assigned_to_picked_up_to_delivered(api, live_order):
    picked_up = post(api, live_order, "picked-up")
    live_order.refresh_from_db()
    assert picked_up.status_code == 200
    assert picked_up.json()["status"] == live_order.status == "picked_up"

    delivered = post(api, live_order, "delivered")

    assert delivered.status_code == 200
    live_order.refresh_from_db()
    assert live_order.status == "delivered"
    # The customer can still call about the drop-off, for the grace period only.
    assert delivered.json()["masking"]["live"] is True
    assert live_order.masking.expires_at < timezone.now() + timedelta(minutes=61)


def test_cancelling_closes_the_line_at_once(api, live_order):
    response = post(api, live_order, "cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["masking"]["live"] is False
    live_order.refresh_from_db()
    assert live_order.status == "cancelled"
    assert not live_order.is_line_live


def test_a_placed_order_can_be_cancelled_but_not_picked_up_or_delivered(api, order):
    for action in ("picked-up", "delivered"):
        body = assert_error(post(api, order, action), 409, "invalid_transition")
        assert "is placed" in body["detail"]
    order.refresh_from_db()
    assert order.status == "placed"

    assert post(api, order, "cancel").json()["status"] == "cancelled"


@pytest.mark.parametrize("action", ["assign", "picked-up", "delivered"])
def test_a_cancelled_order_refuses_every_change_with_409(api, live_order, agent, action):
    services.cancel_order(live_order)

    response = post(api, live_order, action, {"agent": agent.pk})

    body = assert_error(response, 409, "invalid_transition")
    assert body["detail"].startswith(f"Order {live_order.reference} is cancelled and cannot be")
    live_order.refresh_from_db()
    assert live_order.status == "cancelled"
    assert not live_order.is_line_live


def test_a_delivered_order_cannot_be_cancelled_or_picked_up(api, live_order):
    services.mark_delivered(live_order)

    assert_error(post(api, live_order, "cancel"), 409, "invalid_transition")
    assert_error(post(api, live_order, "picked-up"), 409, "invalid_transition")
    live_order.refresh_from_db()
    assert live_order.status == "delivered"
    assert live_order.is_line_live


@pytest.mark.parametrize(("action", "status"), [("delivered", "delivered"), ("cancel", "cancelled")])
def test_a_retried_transition_answers_the_order_again(api, live_order, action, status):
    first = post(api, live_order, action)
    live_order.refresh_from_db()
    expires_at = live_order.masking.expires_at

    retry = post(api, live_order, action)

    assert retry.status_code == 200
    assert retry.json() == first.json()
    live_order.refresh_from_db()
    assert live_order.status == status
    assert live_order.masking.expires_at == expires_at


def test_transitions_need_no_body(api, live_order):
    response = api.post(f"/api/v1/orders/{live_order.reference}/picked-up/")

    assert response.status_code == 200
    live_order.refresh_from_db()
    assert live_order.status == "picked_up"


def test_it_lists_the_orders_calls_without_phone_numbers(api, live_order):
    CallRecord.objects.create(
        call_uuid="call-1",
        order=live_order,
        caller_role="customer",
        from_number=CUSTOMER,
        proxy_number=PROXY,
        dialled_number="+14156667778",
        outcome="connected",
        dial_status="completed",
        hangup_cause="NORMAL_CLEARING",
        duration=42,
        bill_duration=60,
        started_at=timezone.now() - timedelta(minutes=5),
        ended_at=timezone.now(),
    )
    CallRecord.objects.create(call_uuid="call-2", order=live_order, caller_role="agent", outcome="pin_prompted")
    CallRecord.objects.create(call_uuid="stranger", outcome="unknown")

    response = api.get(f"/api/v1/orders/{live_order.reference}/calls/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    newest, oldest = body["results"]
    assert newest["call_uuid"] == "call-2"
    assert oldest == {
        "call_uuid": "call-1",
        "started_at": oldest["started_at"],
        "ended_at": oldest["ended_at"],
        "caller_role": "customer",
        "initiated_by": "caller",
        "outcome": "connected",
        "dial_status": "completed",
        "hangup_cause": "NORMAL_CLEARING",
        "duration": 42,
        "bill_duration": 60,
        "result": "talked",
        "result_label": "talked 0:42",
    }
    text = response.content.decode()
    for number in ("4156667777", "4156667778", "4155550100"):
        assert number not in text
