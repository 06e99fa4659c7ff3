"""simulate_call: the answer Plivo would get, printed without a call or a record."""

import xml.etree.ElementTree as ET

import pytest
from django.core.management import CommandError, call_command

from orders.models import Agent
from tests.support.commands import run_command
from tests.support.world import open_line, wrong_pin
from voice.models import CallRecord

pytestmark = pytest.mark.django_db


def simulate(*args: str) -> ET.Element:
    """The XML simulate_call prints."""
    return ET.fromstring(run_command("simulate_call", *args).out)


def test_simulate_call_prints_the_answer_xml(db):
    call_command("seed_demo")

    root = simulate("--from", "14156667777", "--to", "14155550100")

    dial = root.find("Dial")
    assert dial.get("callerId") == "14155550100"
    assert dial.find("Number").text == "14156667778"
    assert not CallRecord.objects.exists()


def test_simulate_call_prints_the_unknown_caller_answer(db):
    call_command("seed_demo")

    root = simulate("--from", "14150001234", "--to", "14155550100")

    assert root.find("Dial") is None
    assert root.find("Hangup") is not None


@pytest.mark.parametrize("caller", ["hello", "sip:x@example.com"])
def test_a_caller_that_is_not_a_phone_number_is_refused_as_the_admin_simulator_refuses_it(db, caller):
    call_command("seed_demo")

    with pytest.raises(CommandError, match=f"--from {caller}: Not a phone number"):
        run_command("simulate_call", "--from", caller, "--to", "14155550100")


def test_a_proxy_number_not_in_the_pool_is_refused(db):
    call_command("seed_demo")

    with pytest.raises(CommandError, match=r"--to 14155550999: \+1 415 555 0999 is not in your pool"):
        run_command("simulate_call", "--from", "14156667777", "--to", "14155550999")


def test_simulate_call_with_digits_prints_the_pin_answer(proxy_number, agent):
    first = open_line("+14156667777", agent)
    open_line("+14156667777", Agent.objects.create(name="Dave", phone="+14156667780"))
    asked = simulate("--from", "+14156667777", "--to", "+14155550100")

    connected = simulate("--from", "+14156667777", "--to", "+14155550100", "--digits", first.masking.pin)

    assert asked.find("GetDigits") is not None
    assert connected.find("Dial").find("Number").text == "14156667778"
    assert not CallRecord.objects.exists()


def test_simulate_call_with_a_wrong_pin_prints_the_re_prompt(proxy_number, agent):
    first = open_line("+14156667777", agent)
    wrong = wrong_pin(first)

    root = simulate("--from", "14156667777", "--to", "14155550100", "--digits", wrong)

    assert "attempt=2" in root.find("GetDigits").get("action")


def test_simulate_call_requires_from_and_to(db):
    with pytest.raises(CommandError):
        call_command("simulate_call", "--from", "14156667777")
