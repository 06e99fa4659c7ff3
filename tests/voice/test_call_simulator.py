"""The call simulator in the admin (/admin/call-simulator/): the answer a call would get, without a call."""

import html
import io
import re
import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.http import HttpResponse
from django.utils import timezone

from orders import services
from orders.models import Agent, BlockedNumber, Line, Order, ProxyNumber
from orders.phones import display
from tests.support.world import AGENT_PHONE, CUSTOMER, open_line
from voice.models import CallRecord

pytestmark = pytest.mark.django_db


def simulated_xml(response: HttpResponse) -> ET.Element:
    assert response.status_code == 200
    match = re.search(r'<pre id="answer-xml"[^>]*>(.*?)</pre>', response.content.decode(), re.S)
    assert match, "the page shows no XML"
    return ET.fromstring(html.unescape(match.group(1)))


@pytest.fixture
def demo(db) -> None:
    call_command("seed_demo")


def test_the_call_simulator_shows_dial_xml_for_a_seeded_customer(admin_client, demo):
    response = admin_client.get("/admin/call-simulator/", {"caller": "14156667777", "proxy_number": "14155550100"})

    dial = simulated_xml(response).find("Dial")
    assert dial.get("callerId") == "14155550100"
    assert dial.find("Number").text == "14156667778"
    assert not CallRecord.objects.exists()


def test_the_call_simulator_shows_the_unknown_caller_answer(admin_client, demo):
    response = admin_client.get("/admin/call-simulator/", {"caller": "14150001234", "proxy_number": "14155550100"})

    root = simulated_xml(response)
    assert root.find("Dial") is None
    assert root.find("Hangup") is not None


def test_the_call_simulator_shows_the_pin_answer(admin_client, demo):
    order = Order.objects.get(reference="DEMO-1")

    response = admin_client.get(
        "/admin/call-simulator/", {"caller": "14156667778", "proxy_number": "14155550100", "digits": order.masking.pin}
    )

    assert simulated_xml(response).find("Dial").find("Number").text == "14156667777"


def test_the_call_simulator_form_without_input_shows_no_xml(admin_client, demo):
    response = admin_client.get("/admin/call-simulator/")

    assert response.status_code == 200
    assert b'id="answer-xml"' not in response.content


def test_the_call_simulator_refuses_bad_digits(admin_client, demo):
    response = admin_client.get(
        "/admin/call-simulator/", {"caller": "14156667777", "proxy_number": "14155550100", "digits": "12ab"}
    )

    assert response.status_code == 200
    assert b'id="answer-xml"' not in response.content
    assert "digits" in response.context["form"].errors


def test_the_call_simulator_requires_a_staff_login(client, demo):
    response = client.get("/admin/call-simulator/", {"caller": "14156667777", "proxy_number": "14155550100"})

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/admin/call-simulator/")
    assert b"Dial" not in response.content


def test_the_call_simulator_refuses_a_user_who_is_not_staff(client, demo):
    client.force_login(User.objects.create_user("courier", password="pw"))

    response = client.get("/admin/call-simulator/", {"caller": "14156667777", "proxy_number": "14155550100"})

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_admin_index_links_to_the_call_simulator(admin_client):
    response = admin_client.get("/admin/")

    assert response.status_code == 200
    assert b'href="/admin/call-simulator/"' in response.content


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
    wrong = "0000" if live_order.masking.pin != "0000" else "1111"
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


def test_a_caller_typed_as_a_word_is_not_a_phone_number(admin_client, live_order):
    response = admin_client.get(SIMULATOR, {"caller": "hello", "proxy_number": "14155550100"})

    assert response.context["answer_xml"] is None
    assert "Not a phone number" in response.context["form"].errors["caller"][0]


def test_a_proxy_number_not_in_the_pool_is_pointed_out(admin_client, live_order):
    response = admin_client.get(SIMULATOR, {"caller": "14156667777", "proxy_number": "14155550999"})

    assert response.context["answer_xml"] is None
    assert "+1 415 555 0999 is not in your pool" in response.context["form"].errors["proxy_number"][0]
    assert "is not in your pool" in response.content.decode()


@pytest.mark.parametrize(("party", "callee"), [("customer", "Bob"), ("agent", "Alice")])
def test_the_order_pages_link_opens_it_for_that_orders_party(admin_client, live_order, party, callee):
    response = admin_client.get(SIMULATOR, {"order": live_order.reference, "party": party})

    assert summary_of(response) == f"Would ring {callee} for {live_order.reference}, showing +1 415 555 0100."


def test_simulate_call_explains_on_stderr_and_keeps_stdout_the_xml(live_order):
    out, err = io.StringIO(), io.StringIO()

    call_command("simulate_call", "--from", "14156667777", "--to", "14155550100", stdout=out, stderr=err)

    assert out.getvalue().startswith("<?xml") or out.getvalue().startswith("<Response")
    assert err.getvalue().strip() == f"Would ring Bob for {live_order.reference}, showing +1 415 555 0100."


SIMULATED = f"/admin/call-simulator/?caller={CUSTOMER.lstrip('+')}&proxy_number=14155550100"


def staff(client, *permissions: str):
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    client.force_login(user)
    return client


def test_staff_without_the_order_view_permission_are_refused(client, live_order):
    browser = staff(client)

    response = browser.get(SIMULATED)
    home = browser.get("/admin/")

    assert response.status_code == 403
    assert AGENT_PHONE.lstrip("+").encode() not in response.content
    assert b"call-simulator" not in home.content


def test_staff_who_may_view_orders_see_the_dial_xml(client, live_order):
    browser = staff(client, "view_order")

    response = browser.get(SIMULATED)
    home = browser.get("/admin/")

    assert response.status_code == 200
    assert AGENT_PHONE.lstrip("+").encode() in response.content
    assert b"call-simulator" in home.content


def plan_of(response: HttpResponse) -> dict[str, str]:
    return dict(response.context["plan"])


def test_the_call_simulator_shows_the_whole_plan_of_a_connected_call(admin_client, demo):
    reference = Order.objects.get(reference="DEMO-1").reference
    spelled = " ".join(c for c in reference if c.isalnum())

    response = admin_client.get("/admin/call-simulator/", {"caller": "14156667777", "proxy_number": "14155550100"})

    plan = plan_of(response)
    assert plan["The agent hears first"] == f"Call from your customer about order {spelled}. Press 1 to accept."
    assert plan["Accept key"].startswith("1, within 20 s")
    missed = plan["No answer, busy, unreachable or key not pressed"]
    assert f"“Missed call from your customer about order {reference}. Call back on +1 415 555 0100.”" in missed
    assert "can leave a message of up to 60 s" in missed
    assert b'id="call-plan"' in response.content
    assert "14156667778" not in " ".join(plan.values())


def test_the_plan_follows_the_settings(settings, admin_client, demo):
    settings.MASKING_WHISPER, settings.MASKING_ACCEPT_KEY = False, ""
    settings.MASKING_VOICEMAIL, settings.MASKING_MISSED_CALL_SMS = False, False

    response = admin_client.get("/admin/call-simulator/", {"caller": "14156667778", "proxy_number": "14155550100"})

    assert plan_of(response) == {
        "Accept key": "none: the caller is connected as soon as the callee answers",
        "No answer, busy, unreachable or key not pressed": (
            f"the caller hears “{settings.MASKING_NOT_AVAILABLE_MESSAGE}”"
        ),
    }


def test_an_unknown_caller_has_no_plan(admin_client, demo):
    response = admin_client.get("/admin/call-simulator/", {"caller": "14150001234", "proxy_number": "14155550100"})

    assert plan_of(response) == {}
    assert b'id="call-plan"' not in response.content


def test_the_plan_shows_the_recording_notice_when_calls_are_recorded(settings, admin_client, demo):
    settings.MASKING_RECORD_CALLS = True

    response = admin_client.get("/admin/call-simulator/", {"caller": "14156667777", "proxy_number": "14155550100"})

    plan = plan_of(response)
    assert plan["Recording"].startswith("the caller hears “This call may be recorded for quality and safety.”")
    assert "This call may be recorded" in plan["The agent hears first"]
    assert simulated_xml(response).find("Record").get("startOnDialAnswer") == "true"


def test_a_blocked_caller_would_hear_the_unknown_caller_message(settings, admin_client, live_order):
    settings.MASKING_SUPPORT_NUMBER = "+14155550199"
    BlockedNumber.objects.create(number=CUSTOMER, reason="abuse")

    response = admin_client.get(SIMULATOR, {"caller": "14156667777", "proxy_number": "14155550100"})

    assert summary_of(response).startswith("This caller's number is blocked")
    root = simulated_xml(response)
    assert root.find("Dial") is None
    assert [speak.text for speak in root.iter("Speak")] == [settings.MASKING_UNKNOWN_CALLER_MESSAGE]


def test_a_caller_over_the_hourly_limit_would_hear_the_limit_message(settings, admin_client, live_order):
    settings.MASKING_MAX_CALLS_PER_HOUR = 3
    Line.objects.filter(order_id=live_order.pk).update(agent_calls=3, agent_calls_since=timezone.now())

    response = admin_client.get(SIMULATOR, {"caller": "14156667778", "proxy_number": "14155550100"})

    assert summary_of(response) == (
        f"This agent has made 3 or more calls on the line of {live_order.reference} in the last hour "
        "(MASKING_MAX_CALLS_PER_HOUR): would say the call-limit message and hang up."
    )
    assert [speak.text for speak in simulated_xml(response).iter("Speak")] == [settings.MASKING_CALL_LIMIT_MESSAGE]
    assert plan_of(response) == {}


# The store, on its own lines.
STORE = "+14156667790"


def store_order(agent: Agent, *, reference: str = "K7X4", customer: str = CUSTOMER) -> Order:
    order, _ = services.create_order(
        reference=reference,
        customer_name="Alice",
        customer_phone=customer,
        store_name="Green Grocer",
        store_phone=STORE,
    )
    return services.assign_agent(order, agent)


@pytest.fixture
def two_numbers(db) -> None:
    """Room for the order's customer–agent and store–agent lines on numbers of their own."""
    for number in ("+14155550100", "+14155550101"):
        ProxyNumber.objects.create(number=number)


def test_the_store_calling_its_number_would_ring_the_agent(admin_client, two_numbers, agent):
    order = store_order(agent)
    line = order.line(Line.Kind.STORE_AGENT)

    response = admin_client.get(SIMULATOR, {"caller": STORE.lstrip("+"), "proxy_number": str(line.proxy_number)})

    assert summary_of(response) == f"Would ring Bob for K7X4, showing {display(line.proxy_number.number)}."
    assert simulated_xml(response).find("Dial").find("Number").text == AGENT_PHONE.lstrip("+")
    assert plan_of(response)["The agent hears first"].startswith("Call from the store about order K 7 X 4.")


def test_simulate_call_routes_the_store_over_its_line(two_numbers, agent):
    line = store_order(agent).line(Line.Kind.STORE_AGENT)
    out, err = io.StringIO(), io.StringIO()

    call_command("simulate_call", "--from", STORE, "--to", str(line.proxy_number), stdout=out, stderr=err)

    assert ET.fromstring(out.getvalue()).find("Dial").find("Number").text == AGENT_PHONE.lstrip("+")
    assert err.getvalue().strip() == f"Would ring Bob for K7X4, showing {display(line.proxy_number.number)}."


@pytest.mark.parametrize(
    ("party", "kind", "callee"),
    [
        ("store", Line.Kind.STORE_AGENT, "Bob"),
        ("agent", Line.Kind.CUSTOMER_AGENT, "Alice"),
        ("customer", Line.Kind.CUSTOMER_AGENT, "Bob"),
    ],
)
def test_the_order_pages_link_picks_the_line_of_the_party(admin_client, two_numbers, agent, party, kind, callee):
    line = store_order(agent).line(kind)

    response = admin_client.get(SIMULATOR, {"order": "K7X4", "party": party})

    form = response.context["form"]
    assert form.data["proxy_number"] == str(line.proxy_number.number) and form.data["digits"] == ""
    assert summary_of(response) == f"Would ring {callee} for K7X4, showing {display(line.proxy_number.number)}."


def test_the_store_link_of_an_order_without_a_store_finds_no_line(admin_client, live_order):
    response = admin_client.get(SIMULATOR, {"order": live_order.reference, "party": "store"})

    assert response.context["answer_xml"] is None
    assert "No order with that reference has a line for that party yet." in response.content.decode()


def test_a_store_with_two_orders_on_one_number_types_the_pin_of_the_orders_line(admin_client, proxy_number, agent):
    # One number for every line: the store's two store–agent lines share it, so the store is asked for the PIN.
    store_order(Agent.objects.create(name="Dave", phone="+14156667780"), reference="FIRST", customer="+14156660001")
    second = store_order(agent, reference="K7X4")
    line = second.line(Line.Kind.STORE_AGENT)

    response = admin_client.get(SIMULATOR, {"order": "K7X4", "party": "store"})

    assert response.context["form"].data["digits"] == line.pin
    assert summary_of(response) == "Would ring Bob for K7X4, showing +1 415 555 0100."
    page = admin_client.get(f"/admin/orders/order/{second.pk}/change/").content.decode()
    assert f"the store calling (typing PIN {line.pin})" in page


def order_page_links(admin_client, order: Order) -> list[str]:
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    return re.findall(r'class="simulate-(\w+)">', page)


def test_the_order_page_offers_the_store_calling_while_its_line_is_live(admin_client, two_numbers, agent):
    order = store_order(agent)
    assert order_page_links(admin_client, order) == ["customer", "agent", "store"]

    services.close_store_line(order)

    assert order_page_links(admin_client, Order.objects.get(pk=order.pk)) == ["customer", "agent"]


def test_an_order_without_a_store_has_no_store_link(admin_client, live_order):
    assert order_page_links(admin_client, live_order) == ["customer", "agent"]
