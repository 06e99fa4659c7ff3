"""seed_demo and simulate_call, run the way a user runs them."""

import xml.etree.ElementTree as ET
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from orders import services
from orders.models import Agent, Order, ProxyNumber
from voice.models import CallRecord

from .conftest import call_params, open_line, xml_of

pytestmark = pytest.mark.django_db

DEMO_MAP = {"+14156667777": "+14156667778", "+14156667779": "+14156667780", "+14156667781": "+14156667782"}


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def demo_lines() -> dict[str, tuple[str, str, bool]]:
    """customer → (agent, proxy number, live) for every demo order."""
    return {
        str(order.customer_phone): (str(order.agent.phone), str(order.proxy_number.number), order.is_line_live)
        for order in Order.objects.select_related("agent", "proxy_number")
    }


def test_seed_demo_loads_the_seed_tutorials_map(plivo):
    output = run("seed_demo")

    assert output.strip().splitlines() == [
        "Demo ready: 3 orders on proxy number +14155550100 (3 line(s) opened, 0 already live)."
    ]
    assert demo_lines() == {customer: (agent, "+14155550100", True) for customer, agent in DEMO_MAP.items()}
    assert Agent.objects.count() == 3
    assert ProxyNumber.objects.get().label == "demo"


def test_the_webhook_routes_the_demo_at_once(plivo):
    run("seed_demo")

    for customer, agent in DEMO_MAP.items():
        there = xml_of(plivo.signed_post("/voice/answer/", call_params(customer.lstrip("+"), "14155550100")))
        back = xml_of(plivo.signed_post("/voice/answer/", call_params(agent.lstrip("+"), "14155550100")))
        assert there.find("Dial").get("callerId") == "14155550100"
        assert there.find("Dial").find("Number").text == agent.lstrip("+")
        assert back.find("Dial").find("Number").text == customer.lstrip("+")


def test_seed_demo_can_be_run_again(db):
    run("seed_demo")
    pins = dict(Order.objects.values_list("reference", "pin"))

    output = run("seed_demo")

    assert "(0 line(s) opened, 3 already live)" in output
    assert (Order.objects.count(), Agent.objects.count(), ProxyNumber.objects.count()) == (3, 3, 1)
    assert dict(Order.objects.values_list("reference", "pin")) == pins


def test_seed_demo_brings_finished_demo_orders_back(db):
    run("seed_demo")
    services.cancel_order(Order.objects.get(reference="DEMO-1"))
    services.mark_delivered(Order.objects.get(reference="DEMO-2"))

    output = run("seed_demo")

    assert "(2 line(s) opened, 1 already live)" in output
    for reference in ("DEMO-1", "DEMO-2"):
        order = Order.objects.get(reference=reference)
        assert (order.status, order.is_line_live) == ("assigned", True)
    assert all(live for _, _, live in demo_lines().values())


def test_seed_demo_uses_the_given_proxy_number(plivo):
    run("seed_demo", "--proxy-number", "14155550199")

    assert {proxy for _, proxy, _ in demo_lines().values()} == {"+14155550199"}
    root = xml_of(plivo.signed_post("/voice/answer/", call_params("14156667777", "14155550199")))
    assert root.find("Dial").get("callerId") == "14155550199"


def test_seed_demo_moves_the_demo_to_another_proxy_number(plivo):
    run("seed_demo")

    output = run("seed_demo", "--proxy-number", "+14155550199")

    assert "on proxy number +14155550199" in output
    assert {proxy for _, proxy, _ in demo_lines().values()} == {"+14155550199"}
    assert not ProxyNumber.objects.get(number="+14155550100").is_active
    old = xml_of(plivo.signed_post("/voice/answer/", call_params("14156667777", "14155550100")))
    new = xml_of(plivo.signed_post("/voice/answer/", call_params("14156667777", "14155550199")))
    assert old.find("Dial") is None
    assert new.find("Dial").find("Number").text == "14156667778"


def test_seed_demo_puts_the_demo_on_its_number_when_the_pool_has_others(db):
    # A user who already added their own Plivo number, then runs `make run`.
    own = ProxyNumber.objects.create(number="+14155550111", label="main")

    output = run("seed_demo")

    assert "on proxy number +14155550100" in output
    assert {proxy for _, proxy, _ in demo_lines().values()} == {"+14155550100"}
    assert own.orders.count() == 0


def test_seed_demo_refuses_a_proxy_number_that_is_not_a_number(db):
    with pytest.raises(CommandError, match="not a phone number"):
        run("seed_demo", "--proxy-number", "sip:demo@example.com")

    assert not Order.objects.exists()


def test_simulate_call_prints_the_answer_xml(db):
    run("seed_demo")

    root = ET.fromstring(run("simulate_call", "--from", "14156667777", "--to", "14155550100"))

    dial = root.find("Dial")
    assert dial.get("callerId") == "14155550100"
    assert dial.find("Number").text == "14156667778"
    assert not CallRecord.objects.exists()


def test_simulate_call_prints_the_unknown_caller_answer(db):
    run("seed_demo")

    root = ET.fromstring(run("simulate_call", "--from", "sip:x@example.com", "--to", "14155550100"))

    assert root.find("Dial") is None
    assert root.find("Hangup") is not None


def test_simulate_call_with_digits_prints_the_pin_answer(proxy_number, agent):
    first = open_line("+14156667777", agent)
    open_line("+14156667777", Agent.objects.create(name="Dave", phone="+14156667780"))
    asked = ET.fromstring(run("simulate_call", "--from", "+14156667777", "--to", "+14155550100"))

    connected = ET.fromstring(
        run("simulate_call", "--from", "+14156667777", "--to", "+14155550100", "--digits", first.pin)
    )

    assert asked.find("GetDigits") is not None
    assert connected.find("Dial").find("Number").text == "14156667778"
    assert not CallRecord.objects.exists()


def test_simulate_call_with_a_wrong_pin_prints_the_re_prompt(proxy_number, agent):
    first = open_line("+14156667777", agent)
    wrong = "0000" if first.pin != "0000" else "1111"

    root = ET.fromstring(run("simulate_call", "--from", "14156667777", "--to", "14155550100", "--digits", wrong))

    assert "attempt=2" in root.find("GetDigits").get("action")


def test_simulate_call_requires_from_and_to(db):
    with pytest.raises(CommandError):
        call_command("simulate_call", "--from", "14156667777")
