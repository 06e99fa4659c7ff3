"""voice.tasks.place_call: the worker asks Plivo's Call API for a reserved click-to-call, once per attempt.

Plivo is a real HTTP server on loopback (tests/support/plivo_api_server.py) where
sockets and timeouts matter, and ``responses`` (the fake account) elsewhere.
The worker runs in-process (``run_worker``); a retry is made due by moving
its task's time forward.
"""

import socket
import time
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from orders.models import Agent, BlockedNumber, Line, Order
from tests.support.events import assert_no_phone_number, events_of, run_worker
from tests.support.fake_plivo import AUTH_ID
from tests.support.plivo_api_server import PlivoAPIServer
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY
from voice import click_to_call
from voice.models import ClickToCall
from voice.tasks import PLACE_CALL_RETRY_DELAYS, place_call

pytestmark = pytest.mark.django_db

CALL_API = f"https://api.plivo.com/v1/Account/{AUTH_ID}/Call/"


@pytest.fixture
def stand_in(settings):
    with PlivoAPIServer() as server:
        settings.PLIVO_API_URL = server.url
        yield server


def reserve(order: Order, first: str = "agent") -> ClickToCall:
    return click_to_call.request_call(order, first)


def pending_retries() -> list[tuple[list, float]]:
    """Each place_call task waiting for its time: its arguments, and how many seconds from now it runs."""
    now = timezone.now()
    return [
        (result.args_kwargs["args"], (result.run_after - now).total_seconds())
        for result in DBTaskResult.objects.filter(task_path="voice.tasks.place_call", status="READY")
    ]


def run_retry() -> None:
    """Make the waiting retry due now, and run it."""
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
    run_worker()


def test_plivo_accepting_the_call_places_it(live_order, stand_in):
    reservation = reserve(live_order)

    run_worker()

    [request] = stand_in.calls
    assert (request.fields["from"], request.fields["to"]) == (PROXY.lstrip("+"), AGENT_PHONE.lstrip("+"))
    reservation.refresh_from_db()
    assert (reservation.state, reservation.attempts, reservation.reason, reservation.detail) == ("placed", 1, "", "")
    assert reservation.request_uuid and reservation.placed_at is not None
    assert not events_of("call.not_placed") and not pending_retries()


def test_a_task_run_twice_asks_plivo_once(live_order, account):
    reservation = reserve(live_order)

    assert place_call.call(reservation.pk, 0) == "placed"
    assert place_call.call(reservation.pk, 0) == "nothing to do"

    assert len(account.calls) == 1
    reservation.refresh_from_db()
    assert (reservation.state, reservation.attempts) == ("placed", 1)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_plivo_failing_is_retried_with_backoff_one_request_each_time_then_the_call_failed(live_order, stand_in, status):
    # The finding: a 502 came out as a refusal, and the SDK's own retries made three requests of each.
    stand_in.status = status
    reservation = reserve(live_order)

    run_worker()
    for attempt, delay in enumerate(PLACE_CALL_RETRY_DELAYS, start=1):
        assert len(stand_in.calls) == attempt
        [(args, due_in)] = pending_retries()
        assert args == [reservation.pk, attempt]
        assert delay - 2 <= due_in <= delay
        reservation.refresh_from_db()
        assert (reservation.state, reservation.attempts, reservation.reason) == ("queued", attempt, "")
        assert f"trying again in {delay} s" in reservation.detail
        run_retry()

    assert len(stand_in.calls) == len(PLACE_CALL_RETRY_DELAYS) + 1 == 4
    assert not pending_retries()
    reservation.refresh_from_db()
    assert (reservation.state, reservation.reason, reservation.attempts) == ("failed", "plivo_unavailable", 4)
    assert reservation.detail.startswith("Plivo was unavailable 4 times; the call was not placed. Last: ")
    assert "server error" in reservation.detail and reservation.request_uuid is None
    [event] = events_of("call.not_placed")
    assert event.data == {
        "reference": live_order.reference,
        "proxy_number": PROXY,
        "call_request": reservation.public_id,
        "from": "agent",
        "to": "customer",
        "reason": "plivo_unavailable",
        "detail": reservation.detail,
    }
    assert_no_phone_number(event)


def test_plivo_recovering_before_the_last_retry_places_the_call(live_order, stand_in):
    stand_in.status = 503
    reservation = reserve(live_order)
    run_worker()

    stand_in.status = 201
    run_retry()

    reservation.refresh_from_db()
    assert (reservation.state, reservation.attempts, reservation.detail) == ("placed", 2, "")
    assert len(stand_in.calls) == 2 and not events_of("call.not_placed")


def test_plivo_answering_too_slowly_is_a_timeout_that_is_retried(live_order, stand_in, settings):
    settings.PLIVO_CONNECT_TIMEOUT, settings.PLIVO_READ_TIMEOUT = 1, 0.3
    stand_in.delay = 3
    reservation = reserve(live_order)

    started = time.monotonic()
    run_worker()

    assert time.monotonic() - started < 2
    assert len(stand_in.calls) == 1
    reservation.refresh_from_db()
    assert reservation.state == "queued" and "did not answer in time" in reservation.detail
    assert [args for args, _ in pending_retries()] == [[reservation.pk, 1]]


def test_plivo_unreachable_is_retried(live_order, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings.PLIVO_API_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nobody listens there
    reservation = reserve(live_order)

    run_worker()

    reservation.refresh_from_db()
    assert reservation.state == "queued" and "Could not reach the Plivo API" in reservation.detail
    assert [args for args, _ in pending_retries()] == [[reservation.pk, 1]]


def test_plivo_refusing_the_call_ends_it_after_one_request_with_plivos_reason(live_order, stand_in):
    stand_in.status = 400
    stand_in.error_body = {"error": "destination +14156667778 not allowed by geo permissions"}
    reservation = reserve(live_order)

    run_worker()

    assert len(stand_in.calls) == 1 and not pending_retries()
    reservation.refresh_from_db()
    assert (reservation.state, reservation.reason, reservation.attempts) == ("refused", "plivo_refused", 1)
    assert reservation.detail == (
        "Plivo answered with an error while placing the call: destination *** not allowed by geo permissions"
    )
    [event] = events_of("call.not_placed")
    assert (event.data["reason"], event.data["detail"], event.data["call_request"]) == (
        "plivo_refused",
        reservation.detail,
        reservation.public_id,
    )
    assert_no_phone_number(event)


def test_plivo_rejecting_the_credentials_is_a_refusal(live_order, stand_in, settings):
    settings.PLIVO_AUTH_TOKEN = "not-the-token"
    reservation = reserve(live_order, "customer")

    run_worker()

    assert len(stand_in.calls) == 1
    reservation.refresh_from_db()
    assert (reservation.state, reservation.reason) == ("refused", "plivo_refused")
    assert "Plivo rejected the credentials (HTTP 401)" in reservation.detail
    assert events_of("call.not_placed")[0].data["from"] == "customer"


def test_the_event_is_raised_once_per_request(live_order, account):
    account.call_refusal = (400, {"error": "no"})
    first, second = reserve(live_order), reserve(live_order)

    run_worker()
    place_call.call(first.pk, 0)  # run again: nothing new

    assert sorted(event.data["call_request"] for event in events_of("call.not_placed")) == sorted(
        [first.public_id, second.public_id]
    )


# No longer callable when the worker takes it: cancelled, and Plivo never asked


def block_customer(order: Order) -> None:
    BlockedNumber.objects.create(number=CUSTOMER, reason="abusive calls")


def close_line(order: Order) -> None:
    Line.objects.filter(order_id=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def deactivate_agent(order: Order) -> None:
    Agent.objects.filter(pk=order.agent_id).update(is_active=False)


@pytest.mark.parametrize(
    ("change", "reason", "detail"),
    [
        (block_customer, "blocked", "Order {reference}'s customer number is on the block list."),
        (close_line, "line_not_live", "Order {reference} has no live line to call through."),
        (deactivate_agent, "no_agent", "Order {reference}'s agent is deactivated; assign another agent first."),
    ],
)
def test_a_request_no_longer_callable_is_cancelled_without_asking_plivo(live_order, account, change, reason, detail):
    reservation = reserve(live_order)
    change(live_order)

    assert place_call.call(reservation.pk, 0) == "cancelled"

    assert not account.mocked.calls
    reservation.refresh_from_db()
    assert (reservation.state, reservation.reason, reservation.attempts) == ("cancelled", reason, 0)
    assert reservation.detail == detail.format(reference=live_order.reference)
    [event] = events_of("call.not_placed")
    assert (event.data["reason"], event.data["from"], event.data["proxy_number"]) == (reason, "agent", PROXY)
    assert_no_phone_number(event)


# Outward calls run with no transaction and no lock open


@pytest.mark.django_db(transaction=True)
def test_plivo_is_asked_with_no_transaction_open(live_order, mocked):
    seen = []

    def plivo_answers(request):
        seen.append((connection.in_atomic_block, connection.needs_rollback, connection.get_autocommit()))
        return 201, {}, '{"request_uuid": "r-1", "message": "call fired"}'

    mocked.add_callback(mocked.POST, CALL_API, callback=plivo_answers)
    reservation = reserve(live_order)
    assert not connection.in_atomic_block  # the check would prove nothing inside the test's own transaction

    run_worker()

    assert seen == [(False, False, True)]
    reservation.refresh_from_db()
    assert reservation.state == "placed"


@pytest.mark.django_db(transaction=True)
def test_a_retry_is_queued_with_no_transaction_open_during_the_request(live_order, mocked):
    seen = []

    def plivo_times_out(request):
        seen.append(connection.in_atomic_block)
        raise requests.ConnectTimeout("no answer")

    mocked.add_callback(mocked.POST, CALL_API, callback=plivo_times_out)
    reserve(live_order)

    run_worker()

    assert seen == [False]
    assert ClickToCall.objects.get().state == "queued"


def test_a_reservation_whose_worker_died_while_asking_plivo_ends_failed_when_the_sweep_runs_it_again(
    live_order, account, settings
):
    from orders.tasks import sweep_tasks

    reservation = reserve(live_order)
    # What a worker killed mid-request leaves: the reservation "placing", its task "running" for ever.
    ClickToCall.objects.filter(pk=reservation.pk).update(
        state="placing", attempts=1, updated_at=timezone.now() - timedelta(minutes=5)
    )
    DBTaskResult.objects.filter(task_path="voice.tasks.place_call").update(
        status="RUNNING", started_at=timezone.now() - timedelta(seconds=settings.EVENTS_ORPHAN_AFTER + 1)
    )

    assert sweep_tasks.call() == 1
    run_worker()

    assert not account.calls  # never asked again: Plivo may have rung the party already
    reservation.refresh_from_db()
    assert (reservation.state, reservation.reason) == ("failed", "plivo_unavailable")
    assert "may or may not have been placed" in reservation.detail
    (event,) = events_of("call.not_placed")
    assert event.data["call_request"] == reservation.public_id
