"""Click-to-call: POST /api/v1/orders/{reference}/call/ has Plivo ring one party, /voice/bridge/ dials the other.

Plivo's Call API is the fake account (the real SDK through ``responses``); the
bridge and the callbacks are signed as Plivo signs them.
"""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.utils import timezone

from orders.models import Agent, Order
from voice.models import CallRecord, ClickToCall

from ..conftest import AGENT_PHONE, CUSTOMER, PROXY, call_params, spoken, xml_of
from ..events import assert_no_phone_number, events_of
from ..fake_plivo import AUTH_ID
from ..numbers import GB_MOBILE, ISSUE_AGENT, ISSUE_CUSTOMERS, PREMIUM_RATE, assert_names_the_rule
from .conftest import assert_error

pytestmark = pytest.mark.django_db

CALL_API = f"https://api.plivo.com/v1/Account/{AUTH_ID}/Call/"


@pytest.fixture
def order(live_order) -> Order:
    Order.objects.filter(pk=live_order.pk).update(reference="K7X4")
    live_order.refresh_from_db()
    return live_order


def call(api, reference: str = "K7X4", party: str = "agent"):
    return api.post(f"/api/v1/orders/{reference}/call/", {"from": party}, format="json")


def local(url: str) -> str:
    """The path and query Plivo will request of an absolute webhook URL this service gave it."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == django_settings.PUBLIC_BASE_URL
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def outbound_params(first_phone: str, call_uuid: str, **extra: str) -> dict:
    """What Plivo posts to the answer URL of a call it placed: From is our caller ID, To the party it rang."""
    return call_params(
        PROXY.lstrip("+"),
        first_phone.lstrip("+"),
        call_uuid=call_uuid,
        Direction="outbound",
        CallStatus="in-progress",
        RequestUUID="fake-request-1",
        **extra,
    )


# The request Plivo gets


def test_the_agent_is_rung_from_the_proxy_number_with_a_signed_bridge_as_answer_url(api, order, account, settings):
    settings.MASKING_CALL_TIME_LIMIT, settings.MASKING_RING_TIMEOUT = 1800, 25

    response = call(api)

    assert response.status_code == 202, response.content
    assert response.json() == {
        "request_uuid": "fake-request-1",
        "state": "queued",
        "reference": "K7X4",
        "from": "agent",
    }
    [placed] = account.calls
    base = django_settings.PUBLIC_BASE_URL
    expected = {
        "from": "14155550100",
        "to": "14156667778",
        "answer_url": f"{base}/voice/bridge/?order={order.pk}&first=agent",
        "answer_method": "POST",
        "hangup_url": f"{base}/voice/hangup/?order={order.pk}&first=agent",
        "hangup_method": "POST",
        "time_limit": 1800,
        "ring_timeout": 25,
        "request_uuid": "fake-request-1",
    }
    # The SDK also sends its own defaults (ring_method, machine_detection_time, ...).
    assert {name: placed.get(name) for name in expected} == expected
    assert list(ClickToCall.objects.values_list("order", "first_role", "request_uuid")) == [
        (order.pk, "agent", "fake-request-1")
    ]
    # Nothing is logged as a call until Plivo says the party answered or hung up.
    assert not CallRecord.objects.exists()


def test_the_customer_can_be_rung_first(api, order, account):
    response = call(api, party="customer")

    assert response.status_code == 202
    assert response.json()["from"] == "customer"
    assert account.calls[0]["to"] == "14156667777"
    assert account.calls[0]["answer_url"].endswith(f"/voice/bridge/?order={order.pk}&first=customer")


@pytest.mark.parametrize("body", [{"from": "dispatcher"}, {"from": ""}, {}, {"from": ["agent"]}])
def test_a_first_party_other_than_agent_or_customer_is_a_400(api, order, account, body):
    response = api.post("/api/v1/orders/K7X4/call/", body, format="json")

    assert_error(response, 400, "invalid", ("from",))
    assert not account.calls


def test_an_unknown_order_is_a_404(api, order, account):
    assert_error(call(api, "NOPE"), 404, "not_found")
    assert not account.calls


# Refusals: nothing is placed, nothing is left behind


def test_an_order_without_a_live_line_is_a_conflict(api, account, db):
    Order.objects.create(reference="NEW1", customer_name="Alice", customer_phone=CUSTOMER)

    body = assert_error(call(api, "NEW1"), 409, "line_not_live")

    assert "no live line" in body["detail"]
    assert not account.calls and not ClickToCall.objects.exists()


def test_a_line_that_expired_is_a_conflict(api, order, account):
    Order.objects.filter(pk=order.pk).update(masking_expires_at=timezone.now() - timedelta(seconds=1))

    assert_error(call(api), 409, "line_not_live")
    assert not account.calls


def test_an_order_whose_agent_was_deactivated_has_no_agent_to_call(api, order, account):
    Agent.objects.filter(pk=order.agent_id).update(is_active=False)

    body = assert_error(call(api, party="customer"), 409, "no_agent")

    assert "deactivated" in body["detail"]
    assert not account.calls


def test_an_order_with_no_agent_is_a_conflict(api, order, account):
    # Not reachable through the services (a line opens with its agent); a row edited by hand still gets a 409.
    Order.objects.filter(pk=order.pk).update(agent=None)

    body = assert_error(call(api), 409, "no_agent")

    assert "no agent" in body["detail"]
    assert not account.calls


def test_a_premium_rate_customer_phone_is_a_conflict_and_plivo_is_not_asked(api, order, account):
    # Written around the rule, as a row from before it would be.
    Order.objects.filter(pk=order.pk).update(customer_phone=ISSUE_CUSTOMERS[0][0])

    body = assert_error(call(api), 409, "party_not_callable")

    assert body["detail"].startswith("The customer's phone on order K7X4 cannot be called.")
    assert_names_the_rule(body["detail"], PREMIUM_RATE, ISSUE_CUSTOMERS[0][0])
    assert not account.calls and not ClickToCall.objects.exists()


def test_a_premium_rate_agent_phone_is_a_conflict_whoever_is_rung_first(api, order, account):
    Agent.objects.filter(pk=order.agent_id).update(phone=ISSUE_AGENT)

    body = assert_error(call(api, party="customer"), 409, "party_not_callable")

    assert body["detail"].startswith("The agent's phone on order K7X4 cannot be called.")
    assert PREMIUM_RATE in body["detail"]
    assert not account.calls and not ClickToCall.objects.exists()


def test_a_customer_outside_the_pool_s_countries_is_a_conflict(api, order, account):
    # The pool is US-only; the country part of the rule is asked too.
    Order.objects.filter(pk=order.pk).update(customer_phone=GB_MOBILE)

    body = assert_error(call(api, party="customer"), 409, "party_not_callable")

    assert "Numbers in GB are not called" in body["detail"]
    assert not account.calls


def test_more_than_the_limit_per_minute_is_a_429_with_retry_after(api, order, account, settings):
    settings.MASKING_CLICK_TO_CALL_PER_MINUTE = 3

    assert [call(api).status_code for _ in range(3)] == [202, 202, 202]
    refused = call(api, party="customer")

    assert_error(refused, 429, "call_limit")
    assert 1 <= int(refused["Retry-After"]) <= 61
    assert len(account.calls) == 3

    # A minute after the first, one slot is free again.
    ClickToCall.objects.update(requested_at=timezone.now() - timedelta(seconds=61))
    assert call(api).status_code == 202


def test_the_limit_is_per_order(api, order, account, agent, settings):
    settings.MASKING_CLICK_TO_CALL_PER_MINUTE = 1
    other = Order.objects.create(reference="OTHER", customer_name="Carol", customer_phone="+14156667799")
    from orders import services

    services.assign_agent(other, agent)

    assert call(api).status_code == 202
    assert call(api, "OTHER").status_code == 202
    assert call(api).status_code == 429


def test_a_limit_of_zero_is_no_limit(api, order, account, settings):
    settings.MASKING_CLICK_TO_CALL_PER_MINUTE = 0

    assert {call(api).status_code for _ in range(5)} == {202}


def test_plivo_rejecting_the_credentials_is_a_502_with_its_reason(api, order, account):
    account.call_refusal = (401, {"error": "Authentication failed"})

    body = assert_error(call(api), 502, "plivo_refused")

    assert "HTTP 401" in body["detail"] and "PLIVO_AUTH_ID" in body["detail"]
    assert not ClickToCall.objects.exists() and not CallRecord.objects.exists()


def test_plivo_refusing_the_call_is_a_502_with_its_reason(api, order, account):
    account.call_refusal = (400, {"error": "destination number not allowed by geo permissions"})

    body = assert_error(call(api), 502, "plivo_refused")

    assert "destination number not allowed by geo permissions" in body["detail"]
    assert not ClickToCall.objects.exists()


def test_a_plivo_server_error_is_a_503(api, order, account):
    account.call_refusal = (500, {"error": "internal error"})

    body = assert_error(call(api), 503, "plivo_unavailable")

    assert "server error" in body["detail"]
    assert not ClickToCall.objects.exists() and not CallRecord.objects.exists()


def test_plivo_unreachable_is_a_503(api, order, mocked):
    mocked.add(mocked.POST, CALL_API, body=requests.ConnectionError("connection refused"))

    body = assert_error(call(api), 503, "plivo_unavailable")

    assert "Could not reach the Plivo API" in body["detail"]
    assert not ClickToCall.objects.exists()


def test_missing_credentials_are_a_503_that_says_which_settings(api, order, account, settings):
    settings.PLIVO_AUTH_TOKEN = ""

    body = assert_error(call(api), 503, "plivo_unavailable")

    assert "PLIVO_AUTH_TOKEN" in body["detail"]
    assert not account.calls


def test_a_refused_call_does_not_count_towards_the_limit(api, order, account, settings):
    settings.MASKING_CLICK_TO_CALL_PER_MINUTE = 1
    account.call_refusal = (500, {"error": "internal error"})
    assert call(api).status_code == 503

    account.call_refusal = None
    assert call(api).status_code == 202


# The bridge


def test_the_bridge_tells_the_agent_the_order_and_dials_the_customer_from_the_proxy_number(
    plivo, order, django_assert_num_queries
):
    with django_assert_num_queries(2):
        response = plivo.signed_post(
            f"/voice/bridge/?order={order.pk}&first=agent", outbound_params(AGENT_PHONE, "bridge-1")
        )

    root = xml_of(response)
    assert [child.tag for child in root] == ["Speak", "Dial"]
    assert spoken(root) == ["Connecting you to your customer for order K 7 X 4."]
    dial = root.find("Dial")
    assert dial.attrib["callerId"] == "14155550100"
    assert dial.attrib["action"] == f"{django_settings.PUBLIC_BASE_URL}/voice/dial-status/"
    # The second leg gets the whisper and the accept key, as an inbound call's callee does.
    assert (
        dial.attrib["confirmSound"]
        == f"{django_settings.PUBLIC_BASE_URL}/voice/whisper/?order={order.pk}&callee=customer"
    )
    assert dial.attrib["confirmKey"] == "1"
    assert [number.text for number in dial.iter("Number")] == ["14156667777"]
    record = CallRecord.objects.get(call_uuid="bridge-1")
    assert (record.order_id, record.caller_role, record.initiated_by, record.outcome) == (
        order.pk,
        "agent",
        "platform",
        "connected",
    )
    assert (record.from_number, record.proxy_number, record.dialled_number) == (AGENT_PHONE, PROXY, CUSTOMER)


def test_the_customer_rung_first_hears_of_their_delivery_agent(plivo, order):
    root = xml_of(
        plivo.signed_post(f"/voice/bridge/?order={order.pk}&first=customer", outbound_params(CUSTOMER, "bridge-2"))
    )

    assert spoken(root) == ["Connecting you to your delivery agent for order K 7 X 4."]
    assert [number.text for number in root.iter("Number")] == ["14156667778"]
    assert root.find("Dial").attrib["confirmSound"].endswith("callee=agent")


def test_the_bridge_text_is_a_setting(plivo, order, settings):
    settings.MASKING_BRIDGE_TEXT = "Order {reference}: your {callee} is on the line."

    root = xml_of(plivo.signed_post(f"/voice/bridge/?order={order.pk}&first=agent", outbound_params(AGENT_PHONE, "b")))

    assert spoken(root)[0] == "Order K 7 X 4: your customer is on the line."


def test_a_line_that_closed_before_the_answer_dials_no_one(plivo, order):
    Order.objects.filter(pk=order.pk).update(masking_expires_at=timezone.now() - timedelta(seconds=1))

    root = xml_of(plivo.signed_post(f"/voice/bridge/?order={order.pk}&first=agent", outbound_params(AGENT_PHONE, "b")))

    assert root.find("Dial") is None
    assert spoken(root) == [django_settings.MASKING_NOT_AVAILABLE_MESSAGE]


def test_an_agent_deactivated_before_the_answer_is_not_dialled(plivo, order):
    Agent.objects.filter(pk=order.agent_id).update(is_active=False)

    root = xml_of(plivo.signed_post(f"/voice/bridge/?order={order.pk}&first=customer", outbound_params(CUSTOMER, "b")))

    assert root.find("Dial") is None
    assert spoken(root) == [django_settings.MASKING_NOT_AVAILABLE_MESSAGE]


@pytest.mark.parametrize("query", ["", "?order=1", "?first=agent", "?order=x&first=agent", "?order=1&first=boss"])
def test_a_bridge_without_a_proper_order_and_party_dials_no_one(plivo, order, query):
    root = xml_of(plivo.signed_post(f"/voice/bridge/{query}", outbound_params(AGENT_PHONE, "b")))

    assert root.find("Dial") is None


def test_a_replayed_bridge_dials_no_one(plivo, order):
    path = f"/voice/bridge/?order={order.pk}&first=agent"
    first = xml_of(plivo.signed_post(path, outbound_params(AGENT_PHONE, "bridge-1")))
    again = xml_of(plivo.signed_post(path, outbound_params(AGENT_PHONE, "bridge-1")))

    assert first.find("Dial") is not None
    assert again.find("Dial") is None
    assert CallRecord.objects.count() == 1


def test_an_unsigned_bridge_is_refused(client, order):
    response = client.post(f"/voice/bridge/?order={order.pk}&first=agent", outbound_params(AGENT_PHONE, "b"))

    assert response.status_code == 403
    assert not CallRecord.objects.exists()


# End to end


def test_end_to_end_the_api_call_is_bridged_and_the_talk_raises_call_completed(api, plivo, order, account):
    assert call(api).status_code == 202
    [placed] = account.calls
    params = outbound_params(AGENT_PHONE, "c2c-1")

    # Plivo rang the agent, who answered: it fetches the answer URL it was given.
    root = xml_of(plivo.signed_post(local(placed["answer_url"]), params))
    assert [number.text for number in root.iter("Number")] == ["14156667777"]
    dial_status = {**params, "DialStatus": "completed", "DialALegUUID": "c2c-1", "DialBLegUUID": "b-leg"}
    assert xml_of(plivo.signed_post(local(root.find("Dial").attrib["action"]), dial_status)).find("Hangup") is not None
    hangup = {**params, "CallStatus": "completed", "Duration": "75", "HangupCauseName": "Normal Hangup"}
    xml_of(plivo.signed_post(local(placed["hangup_url"]), hangup))

    record = CallRecord.objects.get(call_uuid="c2c-1")
    assert (record.initiated_by, record.caller_role, record.result_label) == ("platform", "agent", "talked 1:15")
    [completed] = events_of("call.completed")
    assert completed.data == {
        "reference": "K7X4",
        "proxy_number": PROXY,
        "call_uuid": "c2c-1",
        "caller_role": "agent",
        "callee_role": "customer",
        "initiated_by": "platform",
        "duration": 75,
    }
    assert not events_of("call.missed")
    assert_no_phone_number(completed)


def test_end_to_end_a_customer_who_does_not_answer_the_second_leg_is_a_missed_call(api, plivo, order, account):
    assert call(api).status_code == 202
    [placed] = account.calls
    params = outbound_params(AGENT_PHONE, "c2c-2")
    root = xml_of(plivo.signed_post(local(placed["answer_url"]), params))

    missed = {**params, "DialStatus": "no-answer", "DialALegUUID": "c2c-2", "DialBLegUUID": "b-leg"}
    xml_of(plivo.signed_post(local(root.find("Dial").attrib["action"]), missed))
    xml_of(plivo.signed_post(local(placed["hangup_url"]), {**params, "CallStatus": "completed", "Duration": "30"}))

    assert CallRecord.objects.get(call_uuid="c2c-2").result == CallRecord.Result.NO_ANSWER
    [event] = events_of("call.missed")
    assert (event.data["reason"], event.data["caller_role"], event.data["initiated_by"]) == (
        "no-answer",
        "agent",
        "platform",
    )
    assert not events_of("call.completed")


@pytest.mark.parametrize(("status", "result"), [("no-answer", "no_answer"), ("busy", "busy"), ("weird", "failed")])
def test_a_first_party_who_never_answers_is_logged_and_raises_call_missed(api, plivo, order, account, status, result):
    assert call(api, party="customer").status_code == 202
    [placed] = account.calls
    hangup = {
        **outbound_params(CUSTOMER, "c2c-3"),
        "CallStatus": status,
        "Duration": "0",
        "HangupCauseName": "No Answer",
    }

    xml_of(plivo.signed_post(local(placed["hangup_url"]), hangup))
    xml_of(plivo.signed_post(local(placed["hangup_url"]), hangup))  # Plivo retried it

    record = CallRecord.objects.get(call_uuid="c2c-3")
    assert (record.order_id, record.caller_role, record.initiated_by, record.outcome) == (
        order.pk,
        "customer",
        "platform",
        "not_answered",
    )
    assert record.result == result
    assert (record.from_number, record.proxy_number, record.dialled_number) == (CUSTOMER, PROXY, "")
    [event] = events_of("call.missed")
    expected = status if status != "weird" else "failed"
    assert (event.data["reason"], event.data["caller_role"], event.data["callee_role"]) == (
        f"first_party_{expected}",
        "customer",
        "agent",
    )


def test_an_inbound_hangup_is_untouched_by_the_click_to_call_rules(plivo, order):
    from ..conftest import answer, dial_status, hangup

    answer(plivo)
    dial_status(plivo, "completed")
    hangup(plivo)

    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.initiated_by, record.caller_role, record.result) == ("caller", "customer", "talked")
    assert events_of("call.completed")[0].data["initiated_by"] == "caller"


def test_the_calls_endpoint_shows_who_started_the_call(api, plivo, order, account):
    call(api)
    plivo.signed_post(f"/voice/bridge/?order={order.pk}&first=agent", outbound_params(AGENT_PHONE, "c2c-9"))

    [listed] = api.get("/api/v1/orders/K7X4/calls/").json()["results"]

    assert (listed["call_uuid"], listed["initiated_by"], listed["caller_role"]) == ("c2c-9", "platform", "agent")


# The admin's buttons


def test_the_order_page_has_call_buttons_that_ring_the_party(admin_client, order, account):
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "Call agent" in page and "Call customer" in page

    response = admin_client.post(f"/admin/orders/order/{order.pk}/call/customer/", follow=True)

    assert response.redirect_chain[-1][0] == f"/admin/orders/order/{order.pk}/change/"
    assert "Calling the customer of order K7X4" in response.content.decode()
    assert account.calls[0]["to"] == "14156667777"
    assert ClickToCall.objects.get().first_role == "customer"


def test_the_buttons_show_a_refusal_as_an_error_message(admin_client, order, account):
    account.call_refusal = (500, {"error": "internal error"})

    response = admin_client.post(f"/admin/orders/order/{order.pk}/call/agent/", follow=True)

    assert "server error" in response.content.decode()
    assert not ClickToCall.objects.exists()


def test_an_order_without_a_live_line_has_no_call_buttons(admin_client, account, db):
    order = Order.objects.create(reference="NEW1", customer_name="Alice", customer_phone=CUSTOMER)

    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()

    assert "Call agent" not in page
    assert admin_client.get(f"/admin/orders/order/{order.pk}/call/agent/").status_code == 405


def test_staff_without_change_permission_cannot_start_calls(client, order, account, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)

    assert "Call agent" not in client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert client.post(f"/admin/orders/order/{order.pk}/call/agent/").status_code == 403
    assert not account.calls


def test_click_to_calls_do_not_count_towards_the_hourly_limit_of_calls_a_party_dials(plivo, order, settings):
    from ..conftest import answer

    settings.MASKING_MAX_CALLS_PER_HOUR = 1
    for n in range(2):
        params = outbound_params(AGENT_PHONE, f"c2c-{n}")
        plivo.signed_post(f"/voice/bridge/?order={order.pk}&first=agent", params)
        plivo.signed_post(f"/voice/hangup/?order={order.pk}&first=agent", {**params, "CallStatus": "completed"})

    root = answer(plivo, AGENT_PHONE.lstrip("+"), call_uuid="inbound-1")

    assert [number.text for number in root.iter("Number")] == ["14156667777"]
    order.refresh_from_db()
    assert order.agent_calls == 0
