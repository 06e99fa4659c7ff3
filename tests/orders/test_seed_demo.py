"""seed_demo: the demo orders of the tutorial this service replaces, ready to call."""

import pytest
from django.core.management import CommandError, call_command

from orders import services
from orders.models import Agent, Line, Order, ProxyNumber
from orders.routing import resolve
from tests.support.commands import run_command
from tests.support.webhooks import answer

pytestmark = pytest.mark.django_db

DEMO_MAP = {"+14156667777": "+14156667778", "+14156667779": "+14156667780", "+14156667781": "+14156667782"}


def demo_lines() -> dict[str, tuple[str, str, bool]]:
    """customer → (agent, proxy number, live) for every demo order."""
    return {
        str(order.customer_phone): (str(order.agent.phone), str(order.masking.proxy_number.number), order.is_line_live)
        for order in Order.objects.select_related("agent").prefetch_related("lines__proxy_number")
    }


def test_seed_demo_loads_the_seed_tutorials_map(plivo):
    output = run_command("seed_demo").out

    assert output.strip().splitlines() == [
        "Demo ready: 3 orders on proxy number +14155550100 (3 line(s) opened, 0 already live)."
    ]
    assert demo_lines() == {customer: (agent, "+14155550100", True) for customer, agent in DEMO_MAP.items()}
    assert Agent.objects.count() == 3
    assert ProxyNumber.objects.get().label == "demo"


def test_the_webhook_routes_the_demo_at_once(plivo):
    run_command("seed_demo")

    for customer, agent in DEMO_MAP.items():
        # Each its own call: an answer for a CallUUID seen before dials no one.
        there = answer(plivo, customer.lstrip("+"), "14155550100", call_uuid=f"there-{customer}")
        back = answer(plivo, agent.lstrip("+"), "14155550100", call_uuid=f"back-{agent}")
        assert there.find("Dial").get("callerId") == "14155550100"
        assert there.find("Dial").find("Number").text == agent.lstrip("+")
        if agent == "+14156667782":
            # DEMO-3's agent also has the store's line on the one demo number: the PIN says which.
            assert back.find("GetDigits") is not None
        else:
            assert back.find("Dial").find("Number").text == customer.lstrip("+")
    store = answer(plivo, "14156667783", "14155550100", call_uuid="the-store")
    assert store.find("Dial").find("Number").text == "14156667782"
    assert Order.objects.get(reference="DEMO-3").store_name == "Green Grocer (demo store)"


def test_seed_demo_can_be_run_again(db):
    run_command("seed_demo")
    pins = dict(Line.objects.values_list("order__reference", "pin"))

    output = run_command("seed_demo").out

    assert "(0 line(s) opened, 3 already live)" in output
    assert (Order.objects.count(), Agent.objects.count(), ProxyNumber.objects.count()) == (3, 3, 1)
    assert dict(Line.objects.values_list("order__reference", "pin")) == pins


def test_seed_demo_brings_finished_demo_orders_back(db):
    run_command("seed_demo")
    services.cancel_order(Order.objects.get(reference="DEMO-1"))
    services.mark_delivered(Order.objects.get(reference="DEMO-2"))

    output = run_command("seed_demo").out

    assert "(2 line(s) opened, 1 already live)" in output
    for reference in ("DEMO-1", "DEMO-2"):
        order = Order.objects.get(reference=reference)
        assert (order.status, order.is_line_live) == ("assigned", True)
    assert all(live for _, _, live in demo_lines().values())


def test_seed_demo_uses_the_given_proxy_number(plivo):
    run_command("seed_demo", "--proxy-number", "14155550199")

    assert {proxy for _, proxy, _ in demo_lines().values()} == {"+14155550199"}
    root = answer(plivo, "14156667777", "14155550199")
    assert root.find("Dial").get("callerId") == "14155550199"


def test_seed_demo_moves_the_demo_to_another_proxy_number(plivo):
    run_command("seed_demo")

    output = run_command("seed_demo", "--proxy-number", "+14155550199").out

    assert "on proxy number +14155550199" in output
    assert {proxy for _, proxy, _ in demo_lines().values()} == {"+14155550199"}
    assert not ProxyNumber.objects.get(number="+14155550100").is_active
    old = answer(plivo, "14156667777", "14155550100", call_uuid="to-the-old-number")
    new = answer(plivo, "14156667777", "14155550199", call_uuid="to-the-new-number")
    assert old.find("Dial") is None
    assert new.find("Dial").find("Number").text == "14156667778"


def test_seed_demo_puts_the_demo_on_its_number_when_the_pool_has_others(db):
    # A user who already added their own Plivo number, then runs `make run`.
    own = ProxyNumber.objects.create(number="+14155550111", label="main")

    output = run_command("seed_demo").out

    assert "on proxy number +14155550100" in output
    assert {proxy for _, proxy, _ in demo_lines().values()} == {"+14155550100"}
    assert own.lines.count() == 0


def test_seed_demo_refuses_a_proxy_number_that_is_not_a_number(db):
    with pytest.raises(CommandError, match="not a phone number"):
        run_command("seed_demo", "--proxy-number", "sip:demo@example.com")

    assert not Order.objects.exists()


def test_seed_demo_restores_demo_customers_after_a_purge(db):
    call_command("seed_demo")
    for order in Order.objects.all():
        services.cancel_order(order)
    call_command("purge_personal_data", "--older-than", "0")
    assert Order.objects.filter(customer_phone="").count() == 3

    call_command("seed_demo")

    demo = Order.objects.get(reference="DEMO-1")
    assert (demo.customer_phone, demo.is_line_live) == ("+14156667777", True)
    assert resolve("+14156667777", str(ProxyNumber.objects.get().number)).order_id == demo.pk
