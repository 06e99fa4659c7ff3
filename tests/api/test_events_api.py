"""/api/v1/webhook-endpoints/ (secrets shown once) and /api/v1/events/ (the feed a platform catches up with)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from orders.events import emit
from orders.models import Delivery, Event, EventType, WebhookEndpoint
from tests.support.api import assert_error
from tests.support.concurrency import postgres_only
from tests.support.events import received, run_worker

# The feed shows an event once every transaction older than it has ended; a test that raises events
# and reads the feed in one transaction would never see them, so these commit as they go.
FEED_READS_COMMITTED = pytest.mark.django_db(transaction=True)

pytestmark = pytest.mark.django_db


def test_creating_an_endpoint_shows_its_secret_once(api):
    response = api.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://platform.example.com/hooks", "event_types": ["call.missed"], "description": "dispatch"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret and endpoint.secret.startswith("whsec_")
    assert (endpoint.url, endpoint.event_types) == ("https://platform.example.com/hooks", ["call.missed"])
    for answer in (
        api.get("/api/v1/webhook-endpoints/").json()["results"][0],
        api.get(f"/api/v1/webhook-endpoints/{endpoint.pk}/").json(),
        api.patch(f"/api/v1/webhook-endpoints/{endpoint.pk}/", {"is_active": False}, format="json").json(),
    ):
        assert "secret" not in answer
        assert endpoint.secret not in str(answer)
    endpoint.refresh_from_db()
    assert endpoint.is_active is False


def test_an_endpoint_wants_every_type_by_default_and_can_be_deleted(api):
    created = api.post("/api/v1/webhook-endpoints/", {"url": "https://p.example.com/h"}, format="json").json()

    assert created["event_types"] == []
    assert api.delete(f"/api/v1/webhook-endpoints/{created['id']}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://p.example.com/h"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://p.example.com/h", "event_types": ["call.answered"]}, "event_types.0"),
    ],
)
def test_a_bad_endpoint_is_refused_with_the_field_at_fault(api, body, field):
    assert_error(api.post("/api/v1/webhook-endpoints/", body, format="json"), 400, "invalid", (field,))


@pytest.mark.parametrize("pk", ["999", "abc", "9" * 30])
def test_an_unknown_endpoint_is_a_json_404(api, pk):
    assert_error(api.get(f"/api/v1/webhook-endpoints/{pk}/"), 404, "not_found")


def test_the_feed_needs_a_key(client):
    assert client.get("/api/v1/events/").status_code == 401


def raise_events(count: int, event_type: EventType = EventType.CALL_MISSED) -> list[str]:
    return [emit(event_type, {"reference": f"R{n}"}).id for n in range(count)]


@FEED_READS_COMMITTED
def test_the_feed_lists_events_oldest_first_with_their_payload(api):
    ids = raise_events(3)

    body = api.get("/api/v1/events/").json()

    assert [event["id"] for event in body["results"]] == ids
    assert body["next"] is None
    first = Event.objects.get(id=ids[0])
    assert body["results"][0] == {
        "id": first.id,
        "type": "call.missed",
        "occurred_at": body["results"][0]["occurred_at"],
        "data": {"reference": "R0"},
    }


@FEED_READS_COMMITTED
def test_the_feed_filters_by_type(api):
    raise_events(2)
    opened = raise_events(1, EventType.LINE_OPENED)

    body = api.get("/api/v1/events/", {"type": "line.opened"}).json()

    assert [event["id"] for event in body["results"]] == opened


@pytest.mark.parametrize(
    ("query", "field"), [({"after": "evt_nope"}, "after"), ({"type": "x"}, "type"), ({"limit": "0"}, "limit")]
)
def test_a_bad_feed_query_is_a_400(api, query, field):
    assert_error(api.get("/api/v1/events/", query), 400, "invalid", (field,))


def page_through(api, limit: int = 100) -> list[str]:
    seen, url = [], f"/api/v1/events/?limit={limit}"
    while url:
        body = api.get(url).json()
        seen.extend(event["id"] for event in body["results"])
        url = body["next"]
        if not body["results"]:
            break
    return seen


@FEED_READS_COMMITTED
def test_the_feed_pages_through_a_thousand_events_with_no_gap_or_repeat(api):
    ids = raise_events(1000)

    assert page_through(api, limit=73) == ids


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_feed_has_no_gap_or_repeat_while_events_are_being_added(api):
    ids = raise_events(1000)
    stop = threading.Event()
    added: list[str] = []

    def keep_adding() -> None:
        try:
            while not stop.is_set():
                added.extend(raise_events(5))
        finally:
            connection.close()

    writer = threading.Thread(target=keep_adding)
    writer.start()
    try:
        seen = page_through(api, limit=50)
    finally:
        stop.set()
        writer.join()
    seen += page_through_from(api, seen[-1])

    assert seen == ids + added
    assert len(set(seen)) == len(seen)


def page_through_from(api, after: str) -> list[str]:
    seen, url = [], f"/api/v1/events/?after={after}"
    while url:
        body = api.get(url).json()
        seen.extend(event["id"] for event in body["results"])
        url = body["next"]
    return seen


def test_the_schema_documents_both_endpoints(api):
    schema = api.get("/api/v1/schema/?format=json").json()

    assert {"/api/v1/webhook-endpoints/", "/api/v1/webhook-endpoints/{id}/", "/api/v1/events/"} <= set(schema["paths"])


def test_a_number_where_text_belongs_is_refused_not_stringified(api):
    response = api.post(
        "/api/v1/webhook-endpoints/", {"url": "https://p.example.com/h", "description": 6.8e16}, format="json"
    )

    assert_error(response, 400, "invalid", ("description",))
    assert not WebhookEndpoint.objects.exists()


# Endpoints the service turned off, and recovering failed deliveries


def raise_one(**data):
    return emit(EventType.CALL_MISSED, {"reference": "K7X4", "reason": "busy", **data})


def test_turning_an_endpoint_back_on_clears_why_it_was_off(api, endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_at=timezone.now(), disabled_reason="the endpoint answered 410 Gone"
    )
    shown = api.get(f"/api/v1/webhook-endpoints/{endpoint.pk}/").json()
    assert (shown["is_active"], shown["disabled_reason"]) == (False, "the endpoint answered 410 Gone")

    turned_on = api.patch(f"/api/v1/webhook-endpoints/{endpoint.pk}/", {"is_active": True}, format="json").json()

    assert (turned_on["is_active"], turned_on["disabled_reason"], turned_on["disabled_at"]) == (True, "", None)
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason, endpoint.failure_count) == (True, "", 0)


def _failed_deliveries(endpoint, days_ago: list[int]) -> list:
    events = []
    for days in days_ago:
        event = raise_one(days=days)
        Delivery.objects.filter(event=event).update(status="failed", attempts=8, failure_reason="gave up")
        type(event).objects.filter(pk=event.pk).update(occurred_at=timezone.now() - timedelta(days=days))
        events.append(event)
    return events


def test_recover_sends_again_the_failed_deliveries_since_a_time(api, httpserver, endpoint):
    httpserver.expect_request("/events").respond_with_data("ok")
    old, recent, newest = _failed_deliveries(endpoint, [3, 1, 0])
    since = (timezone.now() - timedelta(days=2)).isoformat()

    response = api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/recover/", {"since": since}, format="json")
    run_worker()

    assert response.status_code == 202 and response.json() == {"recovering": 2}
    assert sorted(body["id"] for body in received(httpserver, endpoint)) == sorted([recent.id, newest.id])
    assert Delivery.objects.get(event=old).status == "failed"


@pytest.mark.parametrize("body", [{}, {"since": "yesterday"}, {"since": 5}])
def test_recover_needs_a_time(api, endpoint, body):
    assert_error(
        api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/recover/", body, format="json"), 400, "invalid", ("since",)
    )


def test_recover_on_an_endpoint_that_is_off_is_a_conflict(api, endpoint):
    _failed_deliveries(endpoint, [0])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    since = (timezone.now() - timedelta(days=1)).isoformat()

    assert_error(
        api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/recover/", {"since": since}, format="json"),
        409,
        "endpoint_inactive",
    )
    assert Delivery.objects.get().status == "failed"
