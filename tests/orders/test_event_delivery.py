"""Event delivery (orders/events/delivery.py): signed events to real receivers on loopback, on the Standard
Webhooks schedule, with per-endpoint backoff, and safe from slow, huge, gone and failing receivers."""

import logging
import threading
import time
import tracemalloc
from datetime import timedelta
from email.utils import format_datetime
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone
from werkzeug import Request, Response

from orders.events import emit
from orders.events.delivery import deliver_due, lease_seconds
from orders.models import Delivery, DeliveryAttempt, EventType, WebhookEndpoint
from tests.support.concurrency import postgres_only
from tests.support.events import received, run_worker
from tests.support.receivers import KeepAliveReceiver, flooding_receiver
from tests.support.servers import free_port

pytestmark = pytest.mark.django_db

SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]


def _at(moment):
    return mock.patch("django.utils.timezone.now", return_value=moment)


def raise_one(**data):
    return emit(EventType.CALL_MISSED, {"reference": "K7X4", "reason": "busy", **data})


def answers(*statuses: int, headers: dict | None = None):
    """A receiver handler that answers each status in turn, then 200."""
    remaining = list(statuses)

    def handler(request: Request) -> Response:
        return Response("", status=remaining.pop(0) if remaining else 200, headers=headers or {})

    return handler


def wait_for_log(httpserver, count: int, timeout: float = 5) -> None:
    """Let a receiver that answers late finish, so its answer does not land in the next test's log."""
    deadline = time.monotonic() + timeout
    while len(httpserver.log) < count and time.monotonic() < deadline:
        time.sleep(0.05)


# What a receiver gets


def test_an_event_arrives_signed_as_standard_webhooks_says(httpserver, endpoint):
    httpserver.expect_request("/events", method="POST").respond_with_data("ok")
    event = raise_one()

    run_worker()

    (body,) = received(httpserver, endpoint)
    assert body == {"webhook-id": event.id, **event.payload}
    assert set(body) == {"webhook-id", "id", "type", "occurred_at", "data"}
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.claimed_by) == ("delivered", 1, "")
    (attempt,) = delivery.attempt_log.all()
    assert attempt.status_code == 200 and attempt.error == "" and attempt.latency_ms is not None


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


def test_a_backlog_goes_out_in_order_over_one_kept_alive_connection(db):
    with KeepAliveReceiver() as receiver:
        WebhookEndpoint.objects.create(url=receiver.url)
        ids = [raise_one(n=n).id for n in range(30)]

        run_worker()

    assert [body["id"] for _port, _headers, body in receiver.requests] == ids
    assert len({port for port, _headers, _body in receiver.requests}) == 1
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


# Retries, and the endpoint's backoff


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
    endpoint.refresh_from_db()
    assert (endpoint.failure_count, endpoint.retry_at, endpoint.failing_since) == (0, None, None)


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
    assert delivery.failure_reason == "gave up after 8 attempts"
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


def test_a_failing_endpoint_costs_one_attempt_per_retry_step_not_one_per_waiting_event(httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_data("down", status=503)
    start = timezone.now()
    with _at(start):
        for n in range(20):
            raise_one(n=n)
        run_worker()
    assert len(httpserver.log) == 1
    with _at(start + timedelta(seconds=4)):
        run_worker()
    assert len(httpserver.log) == 1
    with _at(start + timedelta(seconds=5)):
        run_worker()
    assert len(httpserver.log) == 2
    with _at(start + timedelta(seconds=5 + 299)):
        run_worker()
    assert len(httpserver.log) == 2
    with _at(start + timedelta(seconds=5 + 300)):
        run_worker()
    assert len(httpserver.log) == 3

    endpoint.refresh_from_db()
    assert endpoint.failure_count == 3 and endpoint.failing_since == start
    assert Delivery.objects.filter(status="pending").count() == 20


def test_a_recovered_endpoint_gets_its_whole_backlog_at_once(httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_handler(answers(503))
    start = timezone.now()
    with _at(start):
        ids = [raise_one(n=n).id for n in range(10)]
        run_worker()
    with _at(start + timedelta(seconds=5)):
        run_worker()

    delivered = [body["id"] for body in received(httpserver, endpoint)]
    assert delivered[0] == ids[0] and sorted(delivered[1:]) == sorted(ids)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_receiver_that_says_retry_after_is_not_tried_again_before_then(httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_handler(answers(429, headers={"Retry-After": "120"}))
    start = timezone.now()
    with _at(start):
        raise_one()
        run_worker()
    with _at(start + timedelta(seconds=119)):
        run_worker()
    assert len(httpserver.log) == 1
    with _at(start + timedelta(seconds=120)):
        run_worker()

    assert len(httpserver.log) == 2
    assert Delivery.objects.get().status == "delivered"


@pytest.mark.parametrize("status", [502, 503, 504])
def test_retry_after_as_a_date_is_honoured_too(httpserver, endpoint, status):
    start = timezone.now().replace(microsecond=0)
    later = format_datetime(start + timedelta(seconds=600), usegmt=True)
    httpserver.expect_request("/events").respond_with_handler(answers(status, headers={"Retry-After": later}))
    with _at(start):
        raise_one()
        run_worker()

    delivery = Delivery.objects.get()
    assert delivery.next_attempt_at == start + timedelta(seconds=600)


def test_retry_after_is_capped_by_the_setting(settings, httpserver, endpoint):
    settings.EVENTS_RETRY_AFTER_MAX = 600
    httpserver.expect_request("/events").respond_with_handler(answers(503, headers={"Retry-After": "999999"}))
    start = timezone.now()
    with _at(start):
        raise_one()
        run_worker()
    with _at(start + timedelta(seconds=600)):
        run_worker()

    assert Delivery.objects.get().status == "delivered"


def test_retry_after_on_a_400_changes_nothing(httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_handler(answers(400, headers={"Retry-After": "3600"}))
    start = timezone.now()
    with _at(start):
        raise_one()
        run_worker()

    assert Delivery.objects.get().next_attempt_at == start + timedelta(seconds=5)


# Endpoints that are gone, off, or failing for days


def test_410_gone_disables_the_endpoint_and_ends_its_waiting_deliveries(httpserver, endpoint, caplog):
    httpserver.expect_request("/events").respond_with_data("gone", status=410)
    start = timezone.now()
    with _at(start):
        for n in range(3):
            raise_one(n=n)
        with caplog.at_level(logging.WARNING, logger="orders.events.delivery"):
            run_worker()
    with _at(start + timedelta(days=2)):
        raise_one(n=4)  # an endpoint that is off gets no delivery at all
        run_worker()

    assert len(httpserver.log) == 1
    endpoint.refresh_from_db()
    assert endpoint.is_active is False
    assert endpoint.disabled_at == start
    assert endpoint.disabled_reason == "the endpoint answered 410 Gone"
    assert set(Delivery.objects.values_list("status", "failure_reason")) == {
        ("failed", "endpoint disabled: the endpoint answered 410 Gone")
    }
    assert f"webhook endpoint {endpoint.pk} disabled: the endpoint answered 410 Gone" in caplog.text


def test_an_endpoint_failing_every_attempt_for_five_days_is_disabled(settings, endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=f"http://127.0.0.1:{free_port()}/events")
    assert settings.EVENTS_DISABLE_AFTER == 5 * 24 * 3600
    start = timezone.now()
    with _at(start):
        raise_one()
        run_worker()
    moment = start
    while WebhookEndpoint.objects.get(pk=endpoint.pk).is_active:
        moment += timedelta(hours=10)
        with _at(moment):
            raise_one()
            run_worker()
        assert moment - start < timedelta(days=6)

    endpoint.refresh_from_db()
    assert moment - start >= timedelta(days=5)
    assert endpoint.disabled_reason == "every attempt failed for 5 days"
    assert not Delivery.objects.filter(status="pending").exists()


def test_a_deactivated_endpoint_gets_no_more_attempts_and_its_deliveries_end(httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_data("no", status=500)
    start = timezone.now()
    with _at(start):
        raise_one()
        raise_one()
        run_worker()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    for hours in (1, 10, 40):
        with _at(start + timedelta(hours=hours)):
            run_worker()

    assert len(httpserver.log) == 1
    assert set(Delivery.objects.values_list("status", "failure_reason")) == {("failed", "endpoint deactivated")}


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_endpoint_deleted_while_its_delivery_is_on_the_wire_leaves_no_error(httpserver, endpoint, caplog):
    def delete_meanwhile(request: Request) -> Response:
        try:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()
        finally:
            connection.close()
        # A batch on the wire looks again at its endpoint once a second (orders/events/delivery.py).
        time.sleep(1.2)
        return Response("ok")

    httpserver.expect_request("/events").respond_with_handler(delete_meanwhile)
    raise_one()
    raise_one()

    with caplog.at_level(logging.WARNING):
        deliver_due()

    assert len(httpserver.log) == 1
    assert not Delivery.objects.exists() and not DeliveryAttempt.objects.exists()
    assert "Error" not in caplog.text and "Traceback" not in caplog.text


# Recover: failed deliveries sent again


def _failed_deliveries(endpoint, days_ago: list[int]) -> list:
    events = []
    for days in days_ago:
        event = raise_one(days=days)
        Delivery.objects.filter(event=event).update(status="failed", attempts=8, failure_reason="gave up")
        type(event).objects.filter(pk=event.pk).update(occurred_at=timezone.now() - timedelta(days=days))
        events.append(event)
    return events


def test_recover_in_the_admin_asks_since_when_then_sends_again(admin_client, httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_data("ok")
    old, recent = _failed_deliveries(endpoint, [3, 0])
    changelist = "/admin/orders/webhookendpoint/"

    asked = admin_client.post(changelist, {"action": "recover", "_selected_action": [endpoint.pk]})
    assert asked.status_code == 200 and b"Failed since" in asked.content
    since = timezone.localtime() - timedelta(days=1)
    done = admin_client.post(
        changelist,
        {
            "action": "recover",
            "_selected_action": [endpoint.pk],
            "since_0": since.strftime("%Y-%m-%d"),
            "since_1": since.strftime("%H:%M:%S"),
        },
        follow=True,
    )
    run_worker()

    assert b"1 failed delivery(ies) queued again." in done.content
    assert [body["id"] for body in received(httpserver, endpoint)] == [recent.id]


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


# Receivers that are slow, trickle or flood


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
    wait_for_log(httpserver, 1)


def test_a_receiver_that_trickles_its_2xx_is_cut_at_the_deadline_and_it_is_no_delivery(settings, httpserver, endpoint):
    settings.EVENTS_DELIVERY_TIMEOUT = 2
    stop = threading.Event()

    def trickle():
        for _ in range(60):
            if stop.wait(0.5):
                return
            yield b"."

    httpserver.expect_request("/events").respond_with_handler(
        lambda request: Response(trickle(), status=200, headers={"Content-Length": "60"})
    )
    raise_one()

    started = time.monotonic()
    run_worker()
    elapsed = time.monotonic() - started
    stop.set()

    assert 1.9 < elapsed < 4
    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.attempt_log.get().error == "timed out"


def test_a_huge_answer_is_read_no_further_than_64_kib(db):
    with flooding_receiver(768 << 20) as (url, sent):
        WebhookEndpoint.objects.create(url=url)
        raise_one()
        tracemalloc.start()
        try:
            run_worker()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    # The answer was 768 MiB; the worker read 64 KiB of it and hung up.
    assert peak < 4 << 20
    assert sent() < 64 << 20
    assert Delivery.objects.get().status == "delivered"


# Leases: a worker that died, and one that is merely busy


def test_a_delivery_whose_worker_died_mid_attempt_is_sent_once_its_lease_runs_out(httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_data("ok")
    event = raise_one()
    # What a worker killed mid-attempt leaves: the delivery claimed, with a lease.
    Delivery.objects.update(claimed_by="dead", lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds()))

    run_worker()
    assert httpserver.log == []
    with _at(timezone.now() + timedelta(seconds=lease_seconds() + 1)):
        run_worker()

    assert [body["id"] for body in received(httpserver, endpoint)] == [event.id]
    assert Delivery.objects.get().status == "delivered"


def test_the_lease_outlasts_any_attempt_so_a_live_worker_is_never_taken_for_dead(settings):
    for timeout in (1, 15, 30):
        settings.EVENTS_DELIVERY_TIMEOUT = timeout
        assert lease_seconds() > timeout + 5


def test_a_batch_stops_starting_attempts_that_could_outlast_its_lease(settings, httpserver, endpoint):
    settings.EVENTS_DELIVERY_TIMEOUT = 1

    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response("ok")

    httpserver.expect_request("/events").respond_with_handler(slow)
    for n in range(40):
        raise_one(n=n)

    with mock.patch("orders.events.delivery.lease_seconds", return_value=8.0):
        from orders.events import delivery

        claims = delivery.claim()
        delivery.work(claims[0], delivery.Senders())

    # Each attempt may take 1 s and must end 5 s before the 8 s lease: only the first few start.
    assert 2 <= len(httpserver.log) <= 4
    assert Delivery.objects.filter(status="pending", claimed_by="").count() == 40 - len(httpserver.log)


def test_the_worker_in_batch_runs_what_is_due_then_exits_with_a_summary(httpserver, capsys):
    from django.core.management import call_command

    httpserver.expect_request("/events").respond_with_data("ok")
    WebhookEndpoint.objects.create(url=httpserver.url_for("/events"))
    emit(EventType.CALL_MISSED, {"reference": "K7X4", "reason": "busy"})

    # The database worker closes stale connections between tasks; here that would end the test's transaction.
    with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
        call_command("worker", "--batch")

    assert Delivery.objects.get().status == "delivered"
    assert capsys.readouterr().out.strip() == "Ran 0 task(s) and made 1 delivery attempt(s)."
