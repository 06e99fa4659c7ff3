"""Helpers for the event tests: the worker run in-process, and what a receiver got (the endpoint is a fixture)."""

import json
from unittest import mock

from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook

from orders.events.delivery import deliver_due
from orders.models import Event, WebhookEndpoint

from .world import AGENT_PHONE, CUSTOMER


def run_worker() -> None:
    """Do what the worker does with what is due now, in this process and transaction: tasks, then deliveries."""
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )
    # The real worker closes stale connections between tasks; here that would
    # close the test's own transaction.
    with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
        worker.run()
    deliver_due()


def failed_tasks() -> list[str]:
    return [str(result.exception_class_path) for result in DBTaskResult.objects.filter(status="FAILED")]


def events_of(event_type: str) -> list[Event]:
    return list(Event.objects.filter(type=event_type).order_by("seq"))


def assert_no_phone_number(event: Event) -> None:
    text = json.dumps(event.data)
    for number in (CUSTOMER, AGENT_PHONE):
        assert number not in text and number.lstrip("+") not in text, event.data


def received(httpserver: HTTPServer, endpoint: WebhookEndpoint) -> list[dict]:
    """Each request the receiver got, its signature verified with standardwebhooks' own Webhook.verify."""
    bodies = []
    for request, _response in httpserver.log:
        headers = {name.lower(): value for name, value in request.headers.items()}
        payload = Webhook(endpoint.secret).verify(request.get_data(as_text=True), headers)
        bodies.append({"webhook-id": headers["webhook-id"], **payload})
    return bodies
