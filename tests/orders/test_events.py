"""orders.events: each event is raised once by its cause, in the cause's transaction, with no phone number."""

import secrets
import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from orders import services, tasks
from orders.events import emit
from orders.models import Event, EventType, Line
from tests.support.concurrency import postgres_only
from tests.support.events import assert_no_phone_number, events_of, run_worker
from tests.support.webhooks import call_params
from tests.support.world import CUSTOMER, PROXY, open_line, wrong_pin

pytestmark = pytest.mark.django_db


def test_adding_an_event_type_is_one_line_in_the_catalogue():
    assert EventType.values == [
        "line.opened",
        "line.closed",
        "line.expired",
        "order.status_changed",
        "call.completed",
        "call.missed",
        "message.relayed",
        "voicemail.received",
        "recording.ready",
        "call.limit_reached",
        "call.not_placed",
    ]


def test_assigning_an_agent_opens_the_line_and_changes_the_status(proxy_number, agent):
    order = open_line(CUSTOMER, agent)

    (opened,) = events_of("line.opened")
    assert opened.data == {
        "reference": order.reference,
        "proxy_number": PROXY,
        "parties": ["customer", "agent"],
        "agent_id": agent.pk,
        "expires_at": order.masking.expires_at.isoformat(),
    }
    (changed,) = events_of("order.status_changed")
    assert changed.data == {"reference": order.reference, "proxy_number": PROXY, "from": "placed", "to": "assigned"}
    assert opened.id.startswith("evt_") and opened.id != changed.id
    assert_no_phone_number(opened)


def test_reassigning_a_live_line_opens_nothing_new(proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    other = type(agent).objects.create(name="Dave", phone="+14156667780")

    services.assign_agent(order, other)

    assert len(events_of("line.opened")) == 1
    assert len(events_of("order.status_changed")) == 1


def test_delivering_shortens_the_line_once_through_the_admin(admin_client, proxy_number, agent):
    order = open_line(CUSTOMER, agent)

    for _ in range(2):
        admin_client.post("/admin/orders/order/", {"action": "mark_delivered", "_selected_action": [order.pk]})

    order.refresh_from_db()
    (closed,) = events_of("line.closed")
    assert closed.data == {
        "reference": order.reference,
        "proxy_number": PROXY,
        "parties": ["customer", "agent"],
        "reason": "delivered",
        "expires_at": order.masking.expires_at.isoformat(),
    }
    assert [e.data["to"] for e in events_of("order.status_changed")] == ["assigned", "delivered"]


def test_cancelling_through_the_api_closes_the_line(proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    _, key = APIKey.objects.create_key(name="dispatch")

    response = APIClient(HTTP_AUTHORIZATION=f"Api-Key {key}").post(f"/api/v1/orders/{order.reference}/cancel/")

    assert response.status_code == 200
    (closed,) = events_of("line.closed")
    assert closed.data["reason"] == "cancelled"
    assert events_of("order.status_changed")[-1].data == {
        "reference": order.reference,
        "proxy_number": PROXY,
        "from": "assigned",
        "to": "cancelled",
    }


def test_cancelling_an_order_without_a_line_closes_no_line(db):
    order, _ = services.create_order(customer_name="Alice", customer_phone=CUSTOMER)

    services.cancel_order(order)

    assert events_of("line.closed") == []
    assert [e.data["to"] for e in events_of("order.status_changed")] == ["cancelled"]


def _at(moment):
    return mock.patch("django.utils.timezone.now", return_value=moment)


def test_a_line_expires_at_its_expiry_time_once(proxy_number, agent):
    order = open_line(CUSTOMER, agent)

    run_worker()
    assert events_of("line.expired") == []

    with _at(order.masking.expires_at + timedelta(seconds=1)):
        run_worker()
        assert len(events_of("line.expired")) == 1
        # A task run twice (at least once delivery of tasks) raises it once.
        assert tasks.check_line_expiry.call(order.pk, order.masking.expires_at.isoformat()) is False

    (expired,) = events_of("line.expired")
    assert expired.data == {
        "reference": order.reference,
        "proxy_number": PROXY,
        "parties": ["customer", "agent"],
        "expired_at": order.masking.expires_at.isoformat(),
    }
    assert expired.occurred_at == order.masking.expires_at


def test_a_delivered_line_expires_at_the_end_of_its_grace_period_only(proxy_number, agent):
    order = services.mark_delivered(open_line(CUSTOMER, agent))

    with _at(order.masking.expires_at + timedelta(days=2)):
        run_worker()

    (expired,) = events_of("line.expired")
    assert expired.data["expired_at"] == order.masking.expires_at.isoformat()


def test_a_cancelled_line_does_not_expire_it_was_closed(proxy_number, agent):
    order = services.cancel_order(open_line(CUSTOMER, agent))

    with _at(timezone.now() + timedelta(days=2)):
        run_worker()

    assert events_of("line.expired") == []
    assert order.status == "cancelled"


def test_a_line_reopened_before_its_old_expiry_does_not_expire_then(proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    first_expiry = order.masking.expires_at
    Line.objects.filter(order_id=order.pk).update(expires_at=first_expiry + timedelta(hours=5))

    with _at(first_expiry + timedelta(seconds=1)):
        run_worker()

    assert events_of("line.expired") == []


def answer(plivo, caller, call_uuid):
    return plivo.signed_post("/voice/answer/", call_params(caller.lstrip("+"), call_uuid=call_uuid))


def test_the_answer_webhook_raises_no_event(plivo, live_order):
    before = Event.objects.count()

    answer(plivo, CUSTOMER, secrets.token_hex(8))

    assert Event.objects.count() == before


@pytest.mark.parametrize(
    "status, result",
    [
        ("no-answer", "no_answer"),
        ("busy", "busy"),
        ("failed", "failed"),
        ("timeout", "no_answer"),
        ("cancel", "ended_before_connecting"),
    ],
)
def test_a_call_that_was_not_answered_is_missed(plivo, live_order, status, result):
    call_uuid = secrets.token_hex(8)
    answer(plivo, CUSTOMER, call_uuid)

    for _ in range(2):  # Plivo retries callbacks
        plivo.signed_post("/voice/dial-status/", call_params(CUSTOMER, call_uuid=call_uuid, DialStatus=status))
    plivo.signed_post("/voice/hangup/", call_params(CUSTOMER, call_uuid=call_uuid, Duration="20"))

    (missed,) = events_of("call.missed")
    assert missed.data == {
        "reference": live_order.reference,
        "proxy_number": PROXY,
        "parties": ["customer", "agent"],
        "call_uuid": call_uuid,
        "caller_role": "customer",
        "callee_role": "agent",
        "initiated_by": "caller",
        "reason": status,
        "result": result,  # the call record's, the API's and the metric's word for it
    }
    assert events_of("call.completed") == []
    assert_no_phone_number(missed)


@pytest.mark.parametrize("hangup_first", [False, True])
def test_a_call_the_parties_talked_on_is_completed_once_with_its_duration(plivo, live_order, hangup_first):
    call_uuid = secrets.token_hex(8)
    answer(plivo, "+14156667778", call_uuid)
    dial = call_params("14156667778", call_uuid=call_uuid, DialStatus="completed")
    hangup = call_params("14156667778", call_uuid=call_uuid, Duration="55", BillDuration="60")

    for path, params in [("/voice/dial-status/", dial), ("/voice/hangup/", hangup)][:: -1 if hangup_first else 1]:
        plivo.signed_post(path, params)
    plivo.signed_post("/voice/hangup/", hangup)

    (completed,) = events_of("call.completed")
    assert completed.data == {
        "reference": live_order.reference,
        "proxy_number": PROXY,
        "parties": ["customer", "agent"],
        "call_uuid": call_uuid,
        "caller_role": "agent",
        "callee_role": "customer",
        "initiated_by": "caller",
        "result": "talked",
        "duration": 55,
    }
    assert events_of("call.missed") == []


def test_a_caller_who_gets_the_pin_wrong_three_times_has_missed_the_call(plivo, proxy_number, agent):
    orders = open_line(CUSTOMER, agent), open_line(CUSTOMER, agent, name="Again")
    call_uuid = secrets.token_hex(8)
    answer(plivo, CUSTOMER, call_uuid)

    for attempt in (1, 2, 3):
        digits = wrong_pin(*orders)
        plivo.signed_post(f"/voice/pin/?attempt={attempt}", call_params(CUSTOMER, call_uuid=call_uuid, Digits=digits))

    (missed,) = events_of("call.missed")
    assert missed.data["reason"] == "pin_refused"
    assert missed.data["caller_role"] == "customer"
    assert missed.data["reference"] is None  # the caller never said which order
    assert_no_phone_number(missed)


def test_a_relayed_text_is_raised_once_without_its_text(plivo, live_order):
    params = {"From": CUSTOMER.lstrip("+"), "To": PROXY.lstrip("+"), "Type": "sms", "Text": "at the door"}
    params["MessageUUID"] = secrets.token_hex(8)

    for _ in range(2):
        plivo.signed_post("/voice/message/", params)

    (relayed,) = events_of("message.relayed")
    assert relayed.data == {
        "reference": live_order.reference,
        "proxy_number": PROXY,
        "parties": ["customer", "agent"],
        "message_uuid": params["MessageUUID"],
        "sender_role": "customer",
        "recipient_role": "agent",
    }
    assert "door" not in str(relayed.data)


def test_a_change_that_rolls_back_leaves_no_event(proxy_number, agent):
    order, _ = services.create_order(customer_name="Alice", customer_phone=CUSTOMER)

    with pytest.raises(RuntimeError), transaction.atomic():
        services.assign_agent(order, agent)
        raise RuntimeError("the caller's transaction fails after the change")

    assert Event.objects.count() == 0
    order.refresh_from_db()
    assert order.agent is None


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_event_is_not_visible_before_its_change_commits(proxy_number, agent):
    order, _ = services.create_order(customer_name="Alice", customer_phone=CUSTOMER)
    seen_inside: list[int] = []

    def look_from_another_connection() -> None:
        try:
            seen_inside.append(Event.objects.filter(type="line.opened").count())
        finally:
            connection.close()

    with transaction.atomic():
        services.assign_agent(order, agent)
        reader = threading.Thread(target=look_from_another_connection)
        reader.start()
        reader.join()

    assert seen_inside == [0]
    assert Event.objects.filter(type="line.opened").count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_changes_raise_their_events_without_waiting_for_each_other():
    """No lock serialises the transactions that raise events: one left open delays no other."""
    first_raised, second_done = threading.Event(), threading.Event()
    took: list[float] = []

    def slow_change() -> None:
        try:
            with transaction.atomic():
                emit(EventType.CALL_MISSED, {"reference": "SLOW", "reason": "busy"})
                first_raised.set()
                second_done.wait(10)
        finally:
            connection.close()

    def quick_change() -> None:
        try:
            first_raised.wait(10)
            started = time.monotonic()
            with transaction.atomic():
                emit(EventType.CALL_MISSED, {"reference": "QUICK", "reason": "busy"})
            took.append(time.monotonic() - started)
        finally:
            second_done.set()
            connection.close()

    threads = [threading.Thread(target=slow_change), threading.Thread(target=quick_change)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert took and took[0] < 1
    assert Event.objects.count() == 2


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_feed_holds_back_events_raised_after_a_transaction_still_running(api_client_key):
    """An older transaction still open may yet commit an event: later ones wait for it, so no reader skips it."""
    client = api_client_key
    older_raised, let_older_commit = threading.Event(), threading.Event()

    def older_change() -> None:
        try:
            with transaction.atomic():
                emit(EventType.CALL_MISSED, {"reference": "OLDER", "reason": "busy"})
                older_raised.set()
                let_older_commit.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=older_change)
    thread.start()
    older_raised.wait(10)
    emit(EventType.CALL_MISSED, {"reference": "NEWER", "reason": "busy"})
    while_open = [event["data"]["reference"] for event in client.get("/api/v1/events/").json()["results"]]
    let_older_commit.set()
    thread.join()
    after = [event["data"]["reference"] for event in client.get("/api/v1/events/").json()["results"]]

    assert while_open == []
    assert after == ["OLDER", "NEWER"]


@pytest.fixture
def api_client_key(db):
    _, key = APIKey.objects.create_key(name="feed reader")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client
