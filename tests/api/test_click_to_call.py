"""Click-to-call: POST /api/v1/orders/{reference}/call/ reserves a call, the worker has Plivo ring one party,
/voice/bridge/ dials the other.

Plivo's Call API is the fake account (the real SDK through ``responses``); the
worker runs in-process (``run_worker``); the bridge and the callbacks are
signed as Plivo signs them. What the task does with each of Plivo's answers:
tests/voice/test_place_call.py.
"""

import re
from datetime import timedelta
from unittest import mock
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from prometheus_client import REGISTRY

from orders.models import Agent, BlockedNumber, Line, Order
from tests.support.api import assert_error
from tests.support.events import assert_no_phone_number, events_of, run_worker
from tests.support.fake_plivo import AUTH_ID
from tests.support.numbers import GB_MOBILE, ISSUE_AGENT, ISSUE_CUSTOMERS, PREMIUM_RATE, assert_names_the_rule
from tests.support.webhooks import call_params, spoken, xml_of
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY, open_line
from voice.models import CallRecord, ClickToCall

pytestmark = pytest.mark.django_db

CALL_API = f"https://api.plivo.com/v1/Account/{AUTH_ID}/Call/"
PLACE_CALL = "voice.tasks.place_call"


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


# The request: reserved and answered at once, Plivo asked by the worker


def queued_tasks() -> list[list]:
    return [result.args_kwargs["args"] for result in DBTaskResult.objects.filter(task_path=PLACE_CALL, status="READY")]


def test_the_request_is_reserved_and_answered_at_once_without_asking_plivo(api, order, account):
    response = call(api)

    assert response.status_code == 202, response.content
    body = response.json()
    assert re.fullmatch(r"ctc_[0-9a-f]{24}", body["id"])
    assert body == {"id": body["id"], "state": "queued", "reference": "K7X4", "from": "agent", "to": "customer"}
    assert not account.calls and not account.mocked.calls
    reservation = ClickToCall.objects.get()
    assert (reservation.public_id, reservation.order_id, reservation.first_role, reservation.state) == (
        body["id"],
        order.pk,
        "agent",
        "queued",
    )
    assert (reservation.attempts, reservation.request_uuid, reservation.placed_at) == (0, None, None)
    assert queued_tasks() == [[reservation.pk, 0]]
    # Nothing is logged as a call until Plivo says the party answered or hung up.
    assert not CallRecord.objects.exists()


def test_the_worker_has_the_agent_rung_from_the_proxy_number_with_a_signed_bridge_as_answer_url(
    api, order, account, settings
):
    settings.MASKING_CALL_TIME_LIMIT, settings.MASKING_RING_TIMEOUT = 1800, 25
    assert call(api).status_code == 202

    run_worker()

    [placed] = account.calls
    base = django_settings.PUBLIC_BASE_URL
    expected = {
        "from": "14155550100",
        "to": "14156667778",
        "answer_url": f"{base}/voice/bridge/?order={order.pk}&first=agent&to=customer",
        "answer_method": "POST",
        "hangup_url": f"{base}/voice/hangup/?order={order.pk}&first=agent&to=customer",
        "hangup_method": "POST",
        "time_limit": 1800,
        "ring_timeout": 25,
        "request_uuid": "fake-request-1",
    }
    # The SDK also sends its own defaults (ring_method, machine_detection_time, ...).
    assert {name: placed.get(name) for name in expected} == expected
    reservation = ClickToCall.objects.get()
    assert (reservation.state, reservation.request_uuid, reservation.attempts) == ("placed", "fake-request-1", 1)
    assert reservation.placed_at is not None and reservation.reason == reservation.detail == ""
    assert not events_of("call.not_placed")


def test_the_customer_can_be_rung_first(api, order, account):
    response = call(api, party="customer")
    run_worker()

    assert response.status_code == 202
    assert response.json()["from"] == "customer"
    assert account.calls[0]["to"] == "14156667777"
    assert account.calls[0]["answer_url"].endswith(f"/voice/bridge/?order={order.pk}&first=customer&to=agent")


@pytest.mark.parametrize("body", [{"from": "dispatcher"}, {"from": ""}, {}, {"from": ["agent"]}])
def test_a_first_party_other_than_agent_or_customer_is_a_400(api, order, account, body):
    response = api.post("/api/v1/orders/K7X4/call/", body, format="json")

    assert_error(response, 400, "invalid", ("from",))
    assert not ClickToCall.objects.exists()


def test_an_unknown_order_is_a_404(api, order, account):
    assert_error(call(api, "NOPE"), 404, "not_found")
    assert not ClickToCall.objects.exists()


# Refusals: nothing is reserved, nothing queued


def assert_nothing_reserved() -> None:
    assert not ClickToCall.objects.exists()
    assert not queued_tasks()


def test_an_order_without_a_live_line_is_a_conflict(api, account, db):
    Order.objects.create(reference="NEW1", customer_name="Alice", customer_phone=CUSTOMER)

    body = assert_error(call(api, "NEW1"), 409, "line_not_live")

    assert "no live line" in body["detail"]
    assert_nothing_reserved()


def test_a_line_that_expired_is_a_conflict(api, order, account):
    Line.objects.filter(order_id=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert_error(call(api), 409, "line_not_live")
    assert_nothing_reserved()


def test_an_order_whose_agent_was_deactivated_has_no_agent_to_call(api, order, account):
    Agent.objects.filter(pk=order.agent_id).update(is_active=False)

    body = assert_error(call(api, party="customer"), 409, "no_agent")

    assert "deactivated" in body["detail"]
    assert_nothing_reserved()


def test_an_order_with_no_agent_is_a_conflict(api, order, account):
    # Not reachable through the services (a line opens with its agent); a row edited by hand still gets a 409.
    Order.objects.filter(pk=order.pk).update(agent=None)

    body = assert_error(call(api), 409, "no_agent")

    assert "no agent" in body["detail"]
    assert_nothing_reserved()


@pytest.mark.parametrize("blocked", [CUSTOMER, AGENT_PHONE])
@pytest.mark.parametrize("party", ["customer", "agent"])
def test_a_blocked_party_is_a_409_whoever_is_rung_first(api, order, account, blocked, party):
    BlockedNumber.objects.create(number=blocked, reason="abusive calls")

    body = assert_error(call(api, party=party), 409, "blocked")

    role = "customer" if blocked == CUSTOMER else "agent"
    assert body["detail"] == f"Order K7X4's {role} number is on the block list."
    assert blocked.lstrip("+") not in body["detail"]
    assert_nothing_reserved()


def test_a_block_that_ended_does_not_stop_the_call(api, order, account):
    BlockedNumber.objects.create(number=CUSTOMER, reason="spam", until=timezone.now() - timedelta(minutes=1))

    assert call(api, party="customer").status_code == 202


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
    assert ClickToCall.objects.count() == 3

    # A minute after the first, one slot is free again.
    ClickToCall.objects.update(requested_at=timezone.now() - timedelta(seconds=61))
    assert call(api).status_code == 202


def test_requests_count_towards_the_limit_while_plivo_times_out(api, order, mocked, settings):
    # The finding: nothing was stored until Plivo accepted, so with Plivo timing out every request reached it.
    settings.MASKING_CLICK_TO_CALL_PER_MINUTE = 3
    mocked.add(mocked.POST, CALL_API, body=requests.ReadTimeout("Plivo took too long"))

    statuses = []
    for _ in range(6):
        statuses.append(call(api).status_code)
        run_worker()

    assert statuses == [202, 202, 202, 429, 429, 429]
    assert len(mocked.calls) == 3
    assert ClickToCall.objects.count() == 3


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


def refused_total(reason: str) -> float:
    return REGISTRY.get_sample_value("numbermasking_click_to_call_refused_total", {"reason": reason}) or 0.0


def test_the_hourly_budget_of_the_service_is_a_429_with_retry_after_a_warning_and_a_metric(
    api, order, account, agent, settings, caplog
):
    settings.MASKING_CLICK_TO_CALL_PER_HOUR = 2
    other = open_line("+14156667799", agent)
    before = refused_total("call_budget")
    assert call(api).status_code == 202
    ClickToCall.objects.update(requested_at=timezone.now() - timedelta(minutes=30))
    assert call(api, other.reference).status_code == 202

    refused = call(api, party="customer")

    body = assert_error(refused, 429, "call_budget")
    assert "MASKING_CLICK_TO_CALL_PER_HOUR" in body["detail"]
    # The oldest of the hour's two leaves the window in about 30 minutes.
    assert 1790 <= int(refused["Retry-After"]) <= 1801
    assert ClickToCall.objects.count() == 2
    assert refused_total("call_budget") == before + 1
    [warning] = [r for r in caplog.records if r.name == "voice.click_to_call" and r.levelname == "WARNING"]
    assert "budget reached" in warning.getMessage()

    ClickToCall.objects.filter(order=order).update(requested_at=timezone.now() - timedelta(minutes=61))
    assert call(api).status_code == 202


def test_every_reservation_counts_towards_the_budget_whatever_came_of_it(api, order, account, agent, settings):
    settings.MASKING_CLICK_TO_CALL_PER_HOUR = 2
    account.call_refusal = (400, {"error": "destination number not allowed"})
    assert call(api).status_code == 202
    run_worker()
    assert ClickToCall.objects.get().state == "refused"

    assert call(api).status_code == 202
    assert_error(call(api), 429, "call_budget")


def test_a_budget_of_zero_is_no_budget(api, order, account, settings):
    settings.MASKING_CLICK_TO_CALL_PER_HOUR = 0
    settings.MASKING_CLICK_TO_CALL_PER_MINUTE = 0

    assert {call(api).status_code for _ in range(4)} == {202}


def test_missing_credentials_are_a_503_that_says_which_settings(api, order, account, settings):
    settings.PLIVO_AUTH_TOKEN = ""

    body = assert_error(call(api), 503, "plivo_unavailable")

    assert "PLIVO_AUTH_TOKEN" in body["detail"]
    assert_nothing_reserved()


def test_refusals_are_counted_by_code(api, order, account):
    BlockedNumber.objects.create(number=CUSTOMER, reason="abusive calls")
    before = refused_total("blocked")

    call(api)

    assert refused_total("blocked") == before + 1


# The order's call requests


def test_the_call_requests_endpoint_lists_them_newest_first_with_their_state_and_reason(api, order, account):
    first = call(api).json()["id"]
    run_worker()
    account.call_refusal = (400, {"error": "destination 14156667777 not allowed by geo permissions"})
    second = call(api, party="customer").json()["id"]
    run_worker()

    listed = api.get("/api/v1/orders/K7X4/call-requests/")

    assert listed.status_code == 200
    page = listed.json()
    assert (page["count"], page["next"], page["previous"]) == (2, None, None)
    refused, placed = page["results"]
    assert list(refused) == [
        "id",
        "state",
        "from",
        "to",
        "reason",
        "detail",
        "attempts",
        "requested_at",
        "placed_at",
        "request_uuid",
    ]
    assert (refused["id"], refused["state"], refused["from"], refused["reason"]) == (
        second,
        "refused",
        "customer",
        "plivo_refused",
    )
    assert refused["detail"] == (
        "Plivo answered with an error while placing the call: destination *** not allowed by geo permissions"
    )
    assert (refused["attempts"], refused["placed_at"], refused["request_uuid"]) == (1, None, None)
    assert (placed["id"], placed["state"], placed["from"], placed["reason"], placed["detail"]) == (
        first,
        "placed",
        "agent",
        "",
        "",
    )
    assert placed["request_uuid"] == "fake-request-1" and placed["placed_at"]
    assert (
        CUSTOMER.lstrip("+") not in listed.content.decode() and AGENT_PHONE.lstrip("+") not in listed.content.decode()
    )

    detail = api.get(f"/api/v1/orders/K7X4/call-requests/{second}/")
    assert detail.status_code == 200
    assert detail.json() == refused


def test_a_call_request_of_another_order_is_a_404(api, order, account, agent):
    other = open_line("+14156667799", agent)
    theirs = call(api, other.reference).json()["id"]

    assert_error(api.get(f"/api/v1/orders/K7X4/call-requests/{theirs}/"), 404, "not_found")
    assert_error(api.get("/api/v1/orders/K7X4/call-requests/ctc_nope/"), 404, "not_found")
    assert_error(api.get("/api/v1/orders/NOPE/call-requests/"), 404, "not_found")
    assert api.get("/api/v1/orders/K7X4/call-requests/").json()["count"] == 0


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
        == f"{django_settings.PUBLIC_BASE_URL}/voice/whisper/?order={order.pk}&callee=customer&caller=agent"
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
    assert root.find("Dial").attrib["confirmSound"].endswith("callee=agent&caller=customer")


def test_the_bridge_text_is_a_setting(plivo, order, settings):
    settings.MASKING_BRIDGE_TEXT = "Order {reference}: your {callee} is on the line."

    root = xml_of(plivo.signed_post(f"/voice/bridge/?order={order.pk}&first=agent", outbound_params(AGENT_PHONE, "b")))

    assert spoken(root)[0] == "Order K 7 X 4: your customer is on the line."


def test_a_line_that_closed_before_the_answer_dials_no_one(plivo, order):
    Line.objects.filter(order_id=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    root = xml_of(plivo.signed_post(f"/voice/bridge/?order={order.pk}&first=agent", outbound_params(AGENT_PHONE, "b")))

    assert root.find("Dial") is None
    assert spoken(root) == [django_settings.MASKING_NOT_AVAILABLE_MESSAGE]


def test_an_agent_deactivated_before_the_answer_is_not_dialled(plivo, order):
    Agent.objects.filter(pk=order.agent_id).update(is_active=False)

    root = xml_of(plivo.signed_post(f"/voice/bridge/?order={order.pk}&first=customer", outbound_params(CUSTOMER, "b")))

    assert root.find("Dial") is None
    assert spoken(root) == [django_settings.MASKING_NOT_AVAILABLE_MESSAGE]


@pytest.mark.parametrize("first", ["agent", "customer"])
@pytest.mark.parametrize("blocked", [CUSTOMER, AGENT_PHONE])
def test_a_blocked_party_is_not_dialled_and_the_call_is_recorded_as_blocked(
    plivo, order, first, blocked, django_assert_num_queries
):
    # Blocked after Plivo placed the call: the bridge, not only the request, asks the block list.
    BlockedNumber.objects.create(number=blocked, reason="abusive calls")
    first_phone = AGENT_PHONE if first == "agent" else CUSTOMER

    with django_assert_num_queries(2):
        response = plivo.signed_post(
            f"/voice/bridge/?order={order.pk}&first={first}", outbound_params(first_phone, "bridge-blocked")
        )

    root = xml_of(response)
    assert root.find("Dial") is None
    assert spoken(root) == [django_settings.MASKING_NOT_AVAILABLE_MESSAGE]
    record = CallRecord.objects.get(call_uuid="bridge-blocked")
    assert (record.order_id, record.caller_role, record.outcome, record.dialled_number) == (
        order.pk,
        first,
        "blocked",
        "",
    )
    assert record.result == CallRecord.Result.BLOCKED


def test_a_block_that_ended_does_not_stop_the_bridge(plivo, order):
    BlockedNumber.objects.create(number=CUSTOMER, reason="spam", until=timezone.now() - timedelta(seconds=1))

    root = xml_of(plivo.signed_post(f"/voice/bridge/?order={order.pk}&first=agent", outbound_params(AGENT_PHONE, "b")))

    assert [number.text for number in root.iter("Number")] == ["14156667777"]


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
    run_worker()
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
        "parties": ["customer", "agent"],
        "call_uuid": "c2c-1",
        "caller_role": "agent",
        "callee_role": "customer",
        "initiated_by": "platform",
        "result": "talked",
        "duration": 75,
    }
    assert not events_of("call.missed")
    assert_no_phone_number(completed)


def test_end_to_end_a_customer_who_does_not_answer_the_second_leg_is_a_missed_call(api, plivo, order, account):
    assert call(api).status_code == 202
    run_worker()
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
    run_worker()
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
    from tests.support.webhooks import answer, dial_status, hangup

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


def test_the_order_page_has_call_buttons_that_queue_the_call(admin_client, order, account):
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "Call agent" in page and "Call customer" in page

    response = admin_client.post(f"/admin/orders/order/{order.pk}/call/customer/", follow=True)

    assert response.redirect_chain[-1][0] == f"/admin/orders/order/{order.pk}/change/"
    reservation = ClickToCall.objects.get()
    page = response.content.decode()
    assert f"Call queued ({reservation.public_id}): Plivo will ring the customer of order K7X4" in page
    assert (reservation.first_role, reservation.state) == ("customer", "queued")
    assert not account.calls
    assert "click-to-call requests" in page and "Queued" in page

    run_worker()

    assert account.calls[0]["to"] == "14156667777"
    assert "Placed" in admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()


def test_the_order_page_shows_why_a_call_was_not_placed(admin_client, order, account):
    account.call_refusal = (400, {"error": "destination not allowed by geo permissions"})
    admin_client.post(f"/admin/orders/order/{order.pk}/call/agent/")
    run_worker()

    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()

    assert "Refused" in page
    assert "Plivo refused: Plivo answered with an error while placing the call: destination not allowed" in page


def test_the_buttons_show_a_blocked_party_as_an_error_message(admin_client, order, account):
    BlockedNumber.objects.create(number=CUSTOMER, reason="abusive calls")

    response = admin_client.post(f"/admin/orders/order/{order.pk}/call/agent/", follow=True)

    assert response.status_code == 200
    assert "Order K7X4&#x27;s customer number is on the block list." in response.content.decode()
    assert not ClickToCall.objects.exists()


def test_the_buttons_show_the_limits_as_error_messages(admin_client, order, account, settings):
    settings.MASKING_CLICK_TO_CALL_PER_MINUTE = 1
    admin_client.post(f"/admin/orders/order/{order.pk}/call/agent/")

    limited = admin_client.post(f"/admin/orders/order/{order.pk}/call/agent/", follow=True).content.decode()

    assert "was called 1 times in the last minute" in limited
    settings.MASKING_CLICK_TO_CALL_PER_MINUTE, settings.MASKING_CLICK_TO_CALL_PER_HOUR = 0, 1
    over_budget = admin_client.post(f"/admin/orders/order/{order.pk}/call/agent/", follow=True).content.decode()
    assert "click-to-calls in the last hour" in over_budget
    assert ClickToCall.objects.count() == 1


def test_the_buttons_show_a_database_error_as_an_error_message(admin_client, order, account):
    from django.db import OperationalError

    with mock.patch("voice.click_to_call._reserve", side_effect=OperationalError("lock timeout")):
        response = admin_client.post(f"/admin/orders/order/{order.pk}/call/agent/", follow=True)

    assert response.status_code == 200
    assert "The database did not answer" in response.content.decode()


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
    from tests.support.webhooks import answer

    settings.MASKING_MAX_CALLS_PER_HOUR = 1
    for n in range(2):
        params = outbound_params(AGENT_PHONE, f"c2c-{n}")
        plivo.signed_post(f"/voice/bridge/?order={order.pk}&first=agent", params)
        plivo.signed_post(f"/voice/hangup/?order={order.pk}&first=agent", {**params, "CallStatus": "completed"})

    root = answer(plivo, AGENT_PHONE.lstrip("+"), call_uuid="inbound-1")

    assert [number.text for number in root.iter("Number")] == ["14156667777"]
    order.refresh_from_db()
    assert order.masking.agent_calls == 0
