"""The call simulator in the admin (/admin/call-simulator/): the answer a call would get, without a call."""

import html
import re
import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.http import HttpResponse

from orders.models import Order
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
        "/admin/call-simulator/", {"caller": "14156667778", "proxy_number": "14155550100", "digits": order.pin}
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
