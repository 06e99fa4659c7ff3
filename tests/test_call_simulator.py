"""The admin's call simulator explains what a call would do, and refuses what is not a number."""

import io

import pytest
from django.core.management import call_command

from orders.models import Agent

from .conftest import CUSTOMER, open_line

pytestmark = pytest.mark.django_db

SIMULATOR = "/admin/call-simulator/"


def summary_of(response) -> str:
    assert response.status_code == 200
    return response.context["summary"]


def test_a_connected_call_names_who_would_ring_for_which_order_and_the_number_shown(admin_client, live_order):
    response = admin_client.get(SIMULATOR, {"caller": "14156667777", "proxy_number": "14155550100"})

    assert summary_of(response) == f"Would ring Bob for {live_order.reference}, showing +1 415 555 0100."
    assert "<Dial" in response.context["answer_xml"]


def test_the_agent_calling_rings_the_customer(admin_client, live_order):
    response = admin_client.get(SIMULATOR, {"caller": "14156667778", "proxy_number": "14155550100"})

    assert summary_of(response) == f"Would ring Alice for {live_order.reference}, showing +1 415 555 0100."


def test_a_caller_with_two_orders_on_the_number_would_be_asked_for_the_pin(admin_client, live_order):
    open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))

    response = admin_client.get(SIMULATOR, {"caller": "14156667777", "proxy_number": "14155550100"})

    assert summary_of(response).startswith("Would ask for the order PIN")


def test_a_wrong_pin_would_be_asked_again(admin_client, live_order):
    wrong = "0000" if live_order.pin != "0000" else "1111"
    response = admin_client.get(SIMULATOR, {"caller": "14156667777", "proxy_number": "14155550100", "digits": wrong})

    assert (
        summary_of(response)
        == f"No live order of this caller on +1 415 555 0100 has PIN {wrong}: would ask for the PIN again."
    )


def test_a_stranger_would_hear_the_unknown_caller_message(admin_client, live_order):
    response = admin_client.get(SIMULATOR, {"caller": "14150000000", "proxy_number": "14155550100"})

    assert summary_of(response) == (
        "No live order of this caller on +1 415 555 0100: would say the unknown-caller message and hang up."
    )


def test_a_stranger_would_be_put_through_to_support_when_it_is_set(admin_client, live_order, settings):
    settings.MASKING_SUPPORT_NUMBER = "+14155550199"

    response = admin_client.get(SIMULATOR, {"caller": "14150000000", "proxy_number": "14155550100"})

    assert summary_of(response).endswith("would put the call through to support (+1 415 555 0199).")


@pytest.mark.parametrize("field", ["caller", "proxy_number"])
def test_a_number_that_cannot_be_parsed_is_a_validation_error_not_unknown_caller_xml(admin_client, live_order, field):
    data = {"caller": "14156667777", "proxy_number": "14155550100", field: "sip:alice@example.com"}

    response = admin_client.get(SIMULATOR, data)

    assert response.status_code == 200
    assert response.context["answer_xml"] is None
    assert "Not a phone number" in response.context["form"].errors[field][0]


@pytest.mark.parametrize(("party", "callee"), [("customer", "Bob"), ("agent", "Alice")])
def test_the_order_pages_link_opens_it_for_that_orders_party(admin_client, live_order, party, callee):
    response = admin_client.get(SIMULATOR, {"order": live_order.reference, "party": party})

    assert summary_of(response) == f"Would ring {callee} for {live_order.reference}, showing +1 415 555 0100."


def test_simulate_call_explains_on_stderr_and_keeps_stdout_the_xml(live_order):
    out, err = io.StringIO(), io.StringIO()

    call_command("simulate_call", "--from", "14156667777", "--to", "14155550100", stdout=out, stderr=err)

    assert out.getvalue().startswith("<?xml") or out.getvalue().startswith("<Response")
    assert err.getvalue().strip() == f"Would ring Bob for {live_order.reference}, showing +1 415 555 0100."
