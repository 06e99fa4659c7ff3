"""orders.tasks.deliver: signed events to a real receiver on loopback, retried on the Standard Webhooks schedule."""

import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from werkzeug import Request, Response

from orders.events import emit
from orders.models import Delivery, EventType, WebhookEndpoint
from orders.tasks import deliver, sweep_deliveries

from .events import endpoint, received, run_worker  # noqa: F401,F811  (endpoint is a fixture)
from .servers import free_port

pytestmark = pytest.mark.django_db
# ruff: noqa: F811 - the endpoint fixture is imported, then named by the tests

SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]


def _at(moment):
    return mock.patch("django.utils.timezone.now", return_value=moment)


def raise_one(**data):
    return emit(EventType.CALL_MISSED, {"reference": "K7X4", "reason": "busy", **data})


def answers(*statuses: int):
    """A receiver handler that answers each status in turn, then 200."""
    remaining = list(statuses)

    def handler(request: Request) -> Response:
        return Response("", status=remaining.pop(0) if remaining else 200)

    return handler


def test_an_event_arrives_signed_as_standard_webhooks_says(httpserver, endpoint):
    httpserver.expect_request("/events", method="POST").respond_with_data("ok")
    event = raise_one()

    run_worker()

    (body,) = received(httpserver, endpoint)
    assert body == {"webhook-id": event.id, **event.payload}
    assert set(body) == {"webhook-id", "id", "type", "occurred_at", "data"}
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    (attempt,) = delivery.attempt_log.all()
    assert attempt.status_code == 200 and attempt.error == "" and attempt.latency_ms is not None


def test_the_default_schedule_is_standard_webhooks(settings):
    assert settings.EVENTS_RETRY_SCHEDULE == SCHEDULE


def test_a_receiver_that_fails_twice_gets_the_same_event_three_times_on_schedule(httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_handler(answers(500, 500))
    start = timezone.now()
    with _at(start):
        event = raise_one()
        run_worker()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        "pending",
        1,
        start + timedelta(seconds=5),
    )

    with _at(start + timedelta(seconds=4)):
        run_worker()  # not due yet
    assert len(httpserver.log) == 1
    with _at(start + timedelta(seconds=5)):
        run_worker()
    with _at(start + timedelta(seconds=5 + 300)):
        run_worker()

    bodies = received(httpserver, endpoint)
    assert [body["webhook-id"] for body in bodies] == [event.id] * 3
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [a.status_code for a in delivery.attempt_log.all()] == [500, 500, 200]


def test_a_receiver_that_is_down_is_retried_on_schedule_then_marked_failed(db):
    down = WebhookEndpoint.objects.create(url=f"http://127.0.0.1:{free_port()}/events")
    moment = timezone.now()
    with _at(moment):
        raise_one()
        run_worker()
    for delay in SCHEDULE:
        moment += timedelta(seconds=delay)
        with _at(moment):
            run_worker()

    delivery = Delivery.objects.get(endpoint=down)
    assert (delivery.status, delivery.attempts) == ("failed", 8)
    attempts = list(delivery.attempt_log.all())
    assert all(a.status_code is None and a.error.startswith("could not connect") for a in attempts)
    gaps = [
        (later.attempted_at - earlier.attempted_at).total_seconds()
        for earlier, later in zip(attempts, attempts[1:], strict=False)
    ]
    assert gaps == SCHEDULE
    with _at(moment + timedelta(days=3)):
        run_worker()
    assert delivery.attempt_log.count() == 8


@pytest.mark.parametrize("status", [301, 400, 404, 503])
def test_anything_but_a_2xx_is_retried(httpserver, endpoint, status):
    httpserver.expect_request("/events").respond_with_data("", status=status, headers={"Location": "/elsewhere"})
    raise_one()

    run_worker()

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.attempt_log.get().status_code == status
    assert len(httpserver.log) == 1  # a redirect is not followed


def test_a_receiver_that_hangs_is_timed_out(settings, httpserver, endpoint):
    settings.EVENTS_DELIVERY_TIMEOUT = 1
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(10)
        return Response("late")

    httpserver.expect_request("/events").respond_with_handler(hang)
    raise_one()

    started = time.monotonic()
    run_worker()
    elapsed = time.monotonic() - started
    release.set()

    assert elapsed < 5
    attempt = Delivery.objects.get().attempt_log.get()
    assert (attempt.status_code, attempt.error) == (None, "timed out")
    # The receiver answers in the end; let it, so its answer does not land in the next test's log.
    deadline = time.monotonic() + 5
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.05)


def test_an_endpoint_gets_only_the_types_it_wants_and_an_inactive_one_nothing(httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_data("ok")
    endpoint.event_types = ["line.opened"]
    endpoint.save()
    WebhookEndpoint.objects.create(url=httpserver.url_for("/events"), is_active=False)

    raise_one()
    wanted = emit(EventType.LINE_OPENED, {"reference": "K7X4"})
    run_worker()

    assert [body["id"] for body in received(httpserver, endpoint)] == [wanted.id]
    assert Delivery.objects.count() == 1


def test_send_again_in_the_admin_delivers_a_failed_delivery(admin_client, httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_data("ok")
    event = raise_one()
    Delivery.objects.update(status="failed", attempts=8)

    response = admin_client.post(
        "/admin/orders/delivery/", {"action": "send_again", "_selected_action": [Delivery.objects.get().pk]}
    )
    assert response.status_code == 302
    run_worker()

    assert [body["id"] for body in received(httpserver, endpoint)] == [event.id]
    assert Delivery.objects.get().status == "delivered"


def test_a_delivery_whose_worker_died_mid_attempt_is_sent_by_the_sweep(settings, httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_data("ok")
    event = raise_one()
    # What a worker killed mid-attempt leaves: its task "running" for ever, and the delivery's lease.
    started = timezone.now() - timedelta(seconds=settings.EVENTS_ORPHAN_AFTER + 1)
    DBTaskResult.objects.update(status="RUNNING", started_at=started, worker_ids=["killed"])
    Delivery.objects.update(lease_expires_at=started + timedelta(seconds=settings.EVENTS_DELIVERY_TIMEOUT + 5))

    assert sweep_deliveries.call() == 1
    assert sweep_deliveries.call() == 0  # the dead task is marked failed: run again once
    run_worker()

    assert [body["id"] for body in received(httpserver, endpoint)] == [event.id]
    assert Delivery.objects.get().status == "delivered"


def test_a_task_that_is_merely_slow_is_left_alone(settings, endpoint):
    raise_one()
    DBTaskResult.objects.update(status="RUNNING", started_at=timezone.now() - timedelta(seconds=5))

    assert sweep_deliveries.call() == 0


def test_a_task_of_a_stale_generation_sends_nothing(httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_data("ok")
    raise_one()
    delivery = Delivery.objects.get()
    Delivery.objects.update(generation=delivery.generation + 1)  # what "send again" does

    assert deliver.call(delivery.pk, delivery.generation) == "nothing to do"
    assert httpserver.log == []
