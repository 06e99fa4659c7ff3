"""The API's edges: every answer under /api/ is the JSON error shape, and inputs mean one thing."""

import json
import logging
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.validators import UniqueValidator

from orders.api.orders import OrderViewSet
from orders.models import Agent, Order
from tests.support.api import assert_error
from tests.support.concurrency import run_concurrently
from tests.support.world import AGENT_PHONE

pytestmark = pytest.mark.django_db


def test_a_duplicate_phone_that_slips_past_the_unique_check_is_a_field_error(api, agent, caplog):
    # What two concurrent requests do: both pass UniqueValidator, the second insert hits the index.
    with mock.patch.object(UniqueValidator, "__call__", return_value=None):
        created = api.post("/api/v1/agents/", {"name": "Eve", "phone": AGENT_PHONE}, format="json")
        other = Agent.objects.create(name="Fay", phone="+14156667790")
        patched = api.patch(f"/api/v1/agents/{other.pk}/", {"phone": AGENT_PHONE}, format="json")

    for response in (created, patched):
        body = assert_error(response, 400, "invalid", ("phone",))
        assert body["fields"]["phone"] == ["An agent with this phone number already exists."]
    assert Agent.objects.filter(phone=AGENT_PHONE).count() == 1
    assert "4156667778" not in caplog.text


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent inserts need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_phone_make_one_agent_and_field_errors(api_key):
    def create() -> tuple[int, str]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
        response = client.post("/api/v1/agents/", {"name": "Bob", "phone": "+14155580011"}, format="json")
        return response.status_code, response["Content-Type"]

    results = run_concurrently(*[create] * 8)

    assert sorted(results) == [(201, "application/json")] + [(400, "application/json")] * 7
    assert Agent.objects.count() == 1


def test_deeply_nested_json_is_a_parse_error(api):
    response = api.post("/api/v1/orders/", "[" * 1000 + "]" * 1000, content_type="application/json")

    assert_error(response, 400, "parse_error")


def test_a_body_over_the_upload_limit_is_a_json_413(api):
    body = json.dumps({"customer_name": "x" * (3 * 1024 * 1024), "customer_phone": "+14155550123"})

    response = api.post("/api/v1/orders/", body, content_type="application/json")

    assert_error(response, 413, "request_too_large")
    assert not Order.objects.exists()


def test_a_post_without_the_trailing_slash_is_a_json_404_not_a_csrf_refusal(api_key):
    browser = Client(enforce_csrf_checks=True)

    response = browser.post(
        "/api/v1/orders", "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}"
    )

    body = assert_error(response, 404, "not_found")
    assert "end with a slash" in body["detail"]


def test_with_the_database_down_the_api_answers_a_json_503(api, caplog):
    with mock.patch.object(OrderViewSet, "list", side_effect=OperationalError("could not connect to +14155580011")):
        response = api.get("/api/v1/orders/")

    assert_error(response, 503, "database_unavailable")
    assert "14155580011" not in response.content.decode()


def test_an_unexpected_error_is_a_json_500(api_key, caplog):
    caplog.set_level(logging.ERROR)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")

    with mock.patch.object(OrderViewSet, "list", side_effect=RuntimeError("boom")):
        response = client.get("/api/v1/orders/")

    assert_error(response, 500, "server_error")
    assert any(record.levelno == logging.ERROR for record in caplog.records)  # Django still logs it


@pytest.mark.parametrize("agent_id", [1.9, 1.0, "١", "1 ", "1", True, None, [1]])
def test_assign_takes_a_json_integer_agent_id_only(api, proxy_number, agent_id):
    agent = Agent.objects.create(pk=1, name="Bob", phone=AGENT_PHONE)
    Order.objects.create(reference="R-1", customer_name="Alice", customer_phone="+14156667777")

    response = api.post("/api/v1/orders/R-1/assign/", {"agent": agent_id}, format="json")

    assert_error(response, 400, "invalid", ("agent",))
    assert Order.objects.get(reference="R-1").agent is None
    assert agent.orders.count() == 0


def test_assign_takes_the_integer_id(api, proxy_number):
    Agent.objects.create(pk=1, name="Bob", phone=AGENT_PHONE)
    Order.objects.create(reference="R-1", customer_name="Alice", customer_phone="+14156667777")

    response = api.post("/api/v1/orders/R-1/assign/", {"agent": 1}, format="json")

    assert response.status_code == 200
    assert response.json()["agent"] == 1
