"""/metrics: off without METRICS_TOKEN, a bearer token with it, and counters that move with signed webhooks.

Read through the endpoint and prometheus-client's own parser, in one process
(the default registry); tests/system/test_metrics_gunicorn.py runs three workers.
Counters are the process's, so each test compares a scrape before and after.
"""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import DatabaseError
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from werkzeug import Response

from orders import services
from orders.events import emit
from orders.models import Agent, EventType, Line, Order, ProxyNumber
from orders.tasks import check_line_expiry
from tests.support.events import run_worker
from tests.support.webhooks import answer, call_params, dial_status, hangup, sms_params
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY, open_line
from voice.models import CallRecord

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-for-tests"

Samples = dict[tuple[str, frozenset], float]


@pytest.fixture
def metrics_on(settings) -> None:
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> Samples:
    """Every sample /metrics shows, as prometheus_client.parser reads it."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == CONTENT_TYPE_LATEST
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_there_is_no_metrics_page_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    assert client.post("/metrics").status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer tökén"],
)
def test_a_scrape_without_the_right_bearer_token_is_refused(client, metrics_on, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"numbermasking" not in response.content


def test_only_get_reads_the_metrics(client, metrics_on):
    response = client.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 405


def test_the_right_token_gets_every_metric_in_prometheus_text_format(client, metrics_on, live_order):
    response = client.get("/metrics", headers={"Authorization": f"bearer  {TOKEN}"})

    assert response.status_code == 200
    families = {family.name: family.type for family in text_string_to_metric_families(response.content.decode())}
    assert {
        "numbermasking_webhook_requests": "counter",
        "numbermasking_webhook_duration_seconds": "histogram",
        "numbermasking_calls": "counter",
        "numbermasking_texts_relayed": "counter",
        "numbermasking_events_delivered": "counter",
        "numbermasking_events_failed": "counter",
        "numbermasking_event_delivery_attempts": "counter",
        "numbermasking_task_queue_depth": "gauge",
        "numbermasking_live_lines": "gauge",
        "numbermasking_pool_busiest_party_orders": "gauge",
        "numbermasking_pool_size": "gauge",
        "numbermasking_pool_numbers_needed": "gauge",
        "numbermasking_pool_numbers_to_add": "gauge",
        "numbermasking_metrics_database_up": "gauge",
    }.items() <= families.items()


def test_webhooks_are_counted_by_view_and_status_refusals_included(plivo, metrics_on, live_order):
    before = scrape(plivo)

    answer(plivo, call_uuid="call-1")
    answer(plivo, call_uuid="call-2")
    assert plivo.post("/voice/answer/", call_params(CUSTOMER)).status_code == 403  # unsigned
    assert plivo.put("/voice/hangup/").status_code == 405
    assert plivo.post("/voice/hangup/", "x", content_type="text/plain").status_code == 415  # before any signature
    # The seed tutorial's URL is the same view.
    assert plivo.signed_post("/numbermasking/handle_incoming/", call_params(CUSTOMER)).status_code == 200

    after = scrape(plivo)
    assert moved(before, after, "numbermasking_webhook_requests_total", view="answer", status="200") == 3
    assert moved(before, after, "numbermasking_webhook_requests_total", view="answer", status="403") == 1
    assert moved(before, after, "numbermasking_webhook_requests_total", view="hangup", status="405") == 1
    assert moved(before, after, "numbermasking_webhook_requests_total", view="hangup", status="415") == 1
    assert moved(before, after, "numbermasking_webhook_duration_seconds_count", view="answer") == 4
    assert moved(before, after, "numbermasking_webhook_duration_seconds_bucket", view="answer", le="+Inf") == 4
    assert moved(before, after, "numbermasking_webhook_duration_seconds_sum", view="answer") > 0


def test_a_call_is_counted_once_by_result_when_it_hangs_up(
    plivo, metrics_on, live_order, django_capture_on_commit_callbacks
):
    before = scrape(plivo)

    with django_capture_on_commit_callbacks(execute=True):
        answer(plivo, call_uuid="talked")
        dial_status(plivo, "completed", call_uuid="talked")
        hangup(plivo, call_uuid="talked")
        answer(plivo, call_uuid="missed")
        dial_status(plivo, "no-answer", call_uuid="missed")
        hangup(plivo, call_uuid="missed")
        answer(plivo, "14150000000", call_uuid="stranger")
        hangup(plivo, caller="14150000000", call_uuid="stranger")
    between = scrape(plivo)
    with django_capture_on_commit_callbacks(execute=True):
        # Plivo's retry (or a replay) of a hangup is the same call ending once.
        hangup(plivo, call_uuid="talked")
        hangup(plivo, call_uuid="missed", Duration="99")
    after = scrape(plivo)

    assert moved(before, between, "numbermasking_calls_total", result="talked") == 1
    assert moved(before, between, "numbermasking_calls_total", result="no_answer") == 1
    assert moved(before, between, "numbermasking_calls_total", result="unknown_caller") == 1
    for result in ("talked", "no_answer", "unknown_caller", "ended_before_connecting"):
        assert moved(between, after, "numbermasking_calls_total", result=result) == 0
    assert CallRecord.objects.get(call_uuid="missed").duration == 99  # the retry still completes the record


def test_a_hangup_that_rolls_back_counts_no_call(plivo, metrics_on, live_order, django_capture_on_commit_callbacks):
    answer(plivo, call_uuid="call-1")
    dial_status(plivo, "completed", call_uuid="call-1")
    before = scrape(plivo)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        mock.patch("voice.calls.emit", side_effect=DatabaseError("the database went away")),
    ):
        hangup(plivo, call_uuid="call-1")

    assert callbacks == []
    assert CallRecord.objects.get().ended_at is None
    assert moved(before, scrape(plivo), "numbermasking_calls_total", result="talked") == 0


def test_texts_relayed_are_counted_once_and_nothing_else_is(
    plivo, metrics_on, live_order, django_capture_on_commit_callbacks
):
    before = scrape(plivo)

    with django_capture_on_commit_callbacks(execute=True):
        relayed = sms_params(CUSTOMER, "At the door", message_uuid="text-1")
        assert plivo.signed_post("/voice/message/", relayed).status_code == 200
        assert plivo.signed_post("/voice/message/", relayed).status_code == 200  # a replay: not relayed again
        plivo.signed_post("/voice/message/", sms_params(AGENT_PHONE, "On my way"))
        plivo.signed_post("/voice/message/", sms_params("+14150000000", "Who is this?"))  # a stranger: silence
        plivo.signed_post("/voice/message/", sms_params(CUSTOMER, "   "))  # nothing to pass on

    after = scrape(plivo)
    assert moved(before, after, "numbermasking_texts_relayed_total") == 2
    assert moved(before, after, "numbermasking_webhook_requests_total", view="message", status="200") == 5


def test_event_deliveries_are_counted_when_delivered_retried_and_failed(
    httpserver, endpoint, client, metrics_on, settings, django_capture_on_commit_callbacks
):
    settings.EVENTS_RETRY_SCHEDULE = [5]
    statuses = iter([200, 500, 500])
    httpserver.expect_request("/events").respond_with_handler(lambda request: Response("", status=next(statuses)))
    before = scrape(client)
    start = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        emit(EventType.CALL_MISSED, {"reference": "K7X4", "reason": "busy"})
        run_worker()  # delivered
        emit(EventType.CALL_MISSED, {"reference": "K7X5", "reason": "busy"})
        run_worker()  # 500: retried in 5 s
        with mock.patch("django.utils.timezone.now", return_value=start + timedelta(seconds=10)):
            run_worker()  # 500 again, and no retry is left

    after = scrape(client)
    assert len(httpserver.log) == 3
    assert moved(before, after, "numbermasking_events_delivered_total") == 1
    assert moved(before, after, "numbermasking_events_failed_total") == 1
    assert moved(before, after, "numbermasking_event_delivery_attempts_total", outcome="delivered") == 1
    assert moved(before, after, "numbermasking_event_delivery_attempts_total", outcome="retry") == 1
    assert moved(before, after, "numbermasking_event_delivery_attempts_total", outcome="failed") == 1


def test_the_queue_depth_counts_tasks_due_now_and_tasks_scheduled_later(client, metrics_on, live_order):
    # Assigning the agent scheduled the line's expiry check for a day from now.
    check_line_expiry.enqueue(live_order.pk, live_order.masking.expires_at.isoformat())

    depth = scrape(client)

    assert value(depth, "numbermasking_task_queue_depth", state="due") == 1
    assert value(depth, "numbermasking_task_queue_depth", state="later") == 1


def test_deliveries_waiting_count_those_due_now_and_retries_scheduled_later(httpserver, endpoint, client, metrics_on):
    httpserver.expect_request("/events").respond_with_data("no", status=500)
    emit(EventType.CALL_MISSED, {"reference": "K7X4", "reason": "busy"})
    emit(EventType.CALL_MISSED, {"reference": "K7X5", "reason": "busy"})

    due = scrape(client)
    run_worker()  # the first fails and is retried in 5 s; the endpoint backs off, so the second waits, due
    later = scrape(client)

    assert value(due, "numbermasking_event_deliveries_waiting", state="due") == 2
    assert value(due, "numbermasking_event_deliveries_waiting", state="later") == 0
    assert value(later, "numbermasking_event_deliveries_waiting", state="due") == 1
    assert value(later, "numbermasking_event_deliveries_waiting", state="later") == 1


def test_live_lines_and_pool_advice_are_read_from_the_database_at_each_scrape(client, metrics_on):
    busy, quiet = ProxyNumber.objects.create(number=PROXY), ProxyNumber.objects.create(number="+14155550101")
    ProxyNumber.objects.create(number="+442079460000")
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    # Dave holds three live lines: N = 3 in the US, so 5 numbers are needed and 3 must be added.
    for customer in ("+14156660001", "+14156660002", "+14156660003"):
        services.assign_agent(Order.objects.create(customer_name="C", customer_phone=customer), dave, proxy_number=busy)
    services.assign_agent(
        Order.objects.create(customer_name="D", customer_phone="+14156660004"),
        Agent.objects.create(name="Erin", phone="+14156667781"),
        proxy_number=quiet,
    )
    gone = open_line("+14156660005", dave)
    Line.objects.filter(order_id=gone.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    samples = scrape(client)

    assert value(samples, "numbermasking_live_lines", proxy_number=PROXY, country="US") == 3
    assert value(samples, "numbermasking_live_lines", proxy_number="+14155550101", country="US") == 1
    assert (
        "numbermasking_live_lines",
        frozenset({"proxy_number": "+442079460000", "country": "GB"}.items()),
    ) in samples
    assert value(samples, "numbermasking_pool_busiest_party_orders", country="US") == 3
    assert value(samples, "numbermasking_pool_size", country="US") == 2
    assert value(samples, "numbermasking_pool_numbers_needed", country="US") == 5
    assert value(samples, "numbermasking_pool_numbers_to_add", country="US") == 3
    assert value(samples, "numbermasking_pool_numbers_to_add", country="GB") == 0
    assert value(samples, "numbermasking_metrics_database_up") == 1

    Line.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    samples = scrape(client)
    assert value(samples, "numbermasking_live_lines", proxy_number=PROXY, country="US") == 0
    assert value(samples, "numbermasking_pool_numbers_needed", country="US") == 0


def test_a_scrape_while_the_database_fails_still_answers_the_counters(client, metrics_on, caplog):
    with mock.patch("orders.pool.live_lines_per_number", side_effect=DatabaseError("the database went away")):
        samples = scrape(client)

    assert value(samples, "numbermasking_metrics_database_up") == 0
    assert not [key for key in samples if key[0] == "numbermasking_live_lines"]
    assert ("numbermasking_texts_relayed_total", frozenset()) in samples
    assert "could not read the database" in caplog.text


def test_no_party_phone_number_reaches_a_metric(plivo, metrics_on, live_order, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer(plivo)
        hangup(plivo)
        plivo.signed_post("/voice/message/", sms_params(CUSTOMER, "Hello"))

    text = plivo.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()

    for number in (CUSTOMER, AGENT_PHONE):
        assert number not in text and number.lstrip("+") not in text
    assert PROXY in text  # our own number, on the live-lines gauge


def test_live_lines_are_shown_by_kind(client, metrics_on, agent):
    for number in ("+14155550101", "+14155550102"):
        ProxyNumber.objects.create(number=number)
    order, _ = services.create_order(
        customer_name="Alice", customer_phone=CUSTOMER, store_name="Grocer", store_phone="+14156667790"
    )
    services.assign_agent(order, agent)

    samples = scrape(client)

    assert value(samples, "numbermasking_live_lines_by_kind", kind="customer_agent") == 1
    assert value(samples, "numbermasking_live_lines_by_kind", kind="store_agent") == 1
    assert value(samples, "numbermasking_live_lines_by_kind", kind="customer_store") == 0
