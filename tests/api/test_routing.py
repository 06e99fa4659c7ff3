"""A line the dispatch system opens through the API is the line Plivo's calls take."""

import pytest

from tests.support.webhooks import answer
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY
from voice.models import CallRecord

pytestmark = pytest.mark.django_db


def test_a_line_opened_through_the_api_routes_calls_until_the_api_cancels_it(api, plivo, proxy_number):
    agent_id = api.post("/api/v1/agents/", {"name": "Bob", "phone": AGENT_PHONE}, format="json").json()["id"]
    order = {"reference": "E2E-1", "customer_name": "Alice", "customer_phone": CUSTOMER}
    assert api.post("/api/v1/orders/", order, format="json").status_code == 201
    masking = api.post("/api/v1/orders/E2E-1/assign/", {"agent": agent_id}, format="json").json()["masking"]
    assert masking["proxy_number"] == PROXY

    customer_call = answer(plivo, CUSTOMER.lstrip("+"), call_uuid="call-1")
    agent_call = answer(plivo, AGENT_PHONE.lstrip("+"), call_uuid="call-2")

    assert customer_call.find("Dial/Number").text == AGENT_PHONE.lstrip("+")
    assert customer_call.find("Dial").get("callerId") == PROXY.lstrip("+")
    assert agent_call.find("Dial/Number").text == CUSTOMER.lstrip("+")
    calls = api.get("/api/v1/orders/E2E-1/calls/").json()["results"]
    assert [(c["call_uuid"], c["caller_role"], c["outcome"]) for c in calls] == [
        ("call-2", "agent", "connected"),
        ("call-1", "customer", "connected"),
    ]

    cancelled = api.post("/api/v1/orders/E2E-1/cancel/")
    after = answer(plivo, CUSTOMER.lstrip("+"), call_uuid="call-3")

    assert cancelled.status_code == 200
    assert after.find("Dial") is None
    assert after.find("Speak") is not None and after.find("Hangup") is not None
    record = CallRecord.objects.get(call_uuid="call-3")
    assert record.order is None
    assert record.outcome == "unknown"
