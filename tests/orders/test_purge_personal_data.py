"""purge_personal_data: personal numbers go from the database when their time is up."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from orders import services
from orders.models import Line, Order
from orders.routing import Action, resolve, resolve_pin
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY
from voice.models import CallRecord, MessageRecord

pytestmark = pytest.mark.django_db

STRANGER = "+14156660000"


@pytest.fixture
def old_and_recent_orders(proxy_number, agent):
    """Two orders closed long ago (one with calls), one closed recently, one still live."""
    long_ago = timezone.now() - timedelta(days=45)

    delivered = services.assign_agent(Order.objects.create(customer_name="Old Alice", customer_phone=CUSTOMER), agent)
    services.mark_delivered(delivered)
    cancelled = Order.objects.create(customer_name="Old Carol", customer_phone="+14156667779")
    services.cancel_order(cancelled)
    Line.objects.filter(order_id=delivered.pk).update(expires_at=long_ago)
    Order.objects.filter(pk=delivered.pk).update(updated_at=long_ago)
    Order.objects.filter(pk=cancelled.pk).update(updated_at=long_ago)  # never had a line
    CallRecord.objects.create(
        call_uuid="old-call",
        order=delivered,
        caller_role="customer",
        from_number=CUSTOMER,
        proxy_number=PROXY,
        dialled_number=AGENT_PHONE,
        outcome="connected",
        dial_status="completed",
        hangup_cause="NORMAL_CLEARING",
        duration=95,
        bill_duration=120,
        started_at=long_ago,
        ended_at=long_ago,
    )
    CallRecord.objects.create(call_uuid="old-stranger", from_number=STRANGER, proxy_number=PROXY, started_at=long_ago)
    MessageRecord.objects.create(
        message_uuid="old-text",
        order=delivered,
        sender_role="customer",
        from_number=CUSTOMER,
        proxy_number=PROXY,
        relayed_to=AGENT_PHONE,
        outcome="relayed",
        received_at=long_ago,
    )
    MessageRecord.objects.create(message_uuid="old-stranger-text", from_number=STRANGER, received_at=long_ago)

    recent = services.assign_agent(Order.objects.create(customer_name="Recent Ann", customer_phone=CUSTOMER), agent)
    services.mark_delivered(recent)
    CallRecord.objects.create(call_uuid="recent-call", order=recent, from_number=CUSTOMER, dialled_number=AGENT_PHONE)
    MessageRecord.objects.create(message_uuid="recent-text", order=recent, from_number=CUSTOMER, relayed_to=AGENT_PHONE)
    live = services.assign_agent(Order.objects.create(customer_name="Live Liz", customer_phone="+14156667781"), agent)
    return delivered, cancelled, recent, live


def test_purge_scrubs_orders_closed_long_ago_and_their_calls(old_and_recent_orders, capsys):
    delivered, cancelled, recent, live = old_and_recent_orders

    call_command("purge_personal_data")

    assert "2 orders, 2 call records, 2 message records" in capsys.readouterr().out
    for order in (delivered, cancelled):
        order.refresh_from_db()
        assert (order.customer_name, str(order.customer_phone)) == ("", "")
    assert (delivered.status, delivered.agent_id, delivered.masking.proxy_number.number) == (
        "delivered",
        live.agent_id,
        PROXY,
    )
    call = CallRecord.objects.get(call_uuid="old-call")
    assert (call.from_number, call.dialled_number) == ("", "")
    assert (call.order, call.outcome, call.dial_status, call.duration, call.bill_duration, call.proxy_number) == (
        delivered,
        "connected",
        "completed",
        95,
        120,
        PROXY,
    )
    assert CallRecord.objects.get(call_uuid="old-stranger").from_number == ""
    text = MessageRecord.objects.get(message_uuid="old-text")
    assert (text.from_number, text.relayed_to) == ("", "")
    assert (text.order, text.sender_role, text.outcome, text.proxy_number) == (delivered, "customer", "relayed", PROXY)
    assert MessageRecord.objects.get(message_uuid="old-stranger-text").from_number == ""


def test_purge_leaves_recent_and_live_orders_alone(old_and_recent_orders):
    _, _, recent, live = old_and_recent_orders

    call_command("purge_personal_data", "--older-than", "30")

    recent.refresh_from_db()
    live.refresh_from_db()
    assert (recent.customer_name, recent.customer_phone) == ("Recent Ann", CUSTOMER)
    assert (live.customer_name, live.customer_phone) == ("Live Liz", "+14156667781")
    assert CallRecord.objects.get(call_uuid="recent-call").from_number == CUSTOMER
    assert MessageRecord.objects.get(message_uuid="recent-text").from_number == CUSTOMER
    assert resolve("+14156667781", PROXY).action == Action.CONNECT


def test_purge_can_be_rerun_and_then_finds_nothing(old_and_recent_orders, capsys):
    call_command("purge_personal_data")

    call_command("purge_personal_data")

    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .endswith("0 orders, 0 call records, 0 message records, 0 webhook nonces.")
    )
    assert Order.objects.filter(customer_phone="").count() == 2


def test_purge_with_a_shorter_period_reaches_recent_orders(old_and_recent_orders):
    _, _, recent, _ = old_and_recent_orders
    Line.objects.filter(order_id=recent.pk).update(expires_at=timezone.now() - timedelta(days=2))

    call_command("purge_personal_data", "--older-than", "1")

    recent.refresh_from_db()
    assert recent.customer_phone == ""


def test_a_purged_order_is_never_routed_or_reopened(old_and_recent_orders, agent):
    delivered, *_ = old_and_recent_orders
    call_command("purge_personal_data")
    delivered.refresh_from_db()
    Order.objects.filter(pk=delivered.pk).update(status=Order.Status.PLACED)

    with pytest.raises(ValidationError, match="personal data was purged"):
        services.assign_agent(delivered, agent)

    delivered.refresh_from_db()
    assert not delivered.is_line_live
    # The agent still has other orders on the number; the purged one is not among them.
    assert resolve_pin(AGENT_PHONE, PROXY, delivered.masking.pin).order_id != delivered.pk
    assert resolve("", PROXY).action == Action.UNKNOWN


def test_purge_refuses_a_negative_period(db):
    with pytest.raises(CommandError, match="zero or more"):
        call_command("purge_personal_data", "--older-than", "-1")
