"""What one answer costs the database: a lookup and an insert, whatever the caller."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import services
from orders.models import Agent, Order
from voice.models import CallRecord

from .conftest import CUSTOMER, call_params

pytestmark = pytest.mark.django_db


def test_a_known_customer_costs_one_lookup_and_one_insert(plivo, live_order, django_assert_num_queries):
    with django_assert_num_queries(2):
        response = plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="known-1"))

    assert b"<Dial" in response.content
    assert CallRecord.objects.get(call_uuid="known-1").order == live_order


def test_a_known_agent_costs_one_lookup_and_one_insert(plivo, live_order, django_assert_num_queries):
    with django_assert_num_queries(2):
        response = plivo.signed_post("/voice/answer/", call_params("14156667778", call_uuid="known-2"))

    assert b"<Number>14156667777</Number>" in response.content
    assert CallRecord.objects.get(call_uuid="known-2").caller_role == "agent"


def test_an_ambiguous_caller_costs_one_lookup_and_one_insert(plivo, live_order, django_assert_num_queries):
    second_agent = Agent.objects.create(name="Carol", phone="+14156667790")
    services.assign_agent(Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER), second_agent)

    with django_assert_num_queries(2):
        response = plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="ambiguous"))

    assert b"<GetDigits" in response.content
    assert CallRecord.objects.get(call_uuid="ambiguous").outcome == "pin_prompted"


def test_an_unknown_caller_costs_one_lookup_and_one_insert(plivo, live_order, django_assert_num_queries):
    with django_assert_num_queries(2):
        plivo.signed_post("/voice/answer/", call_params("14155559999", call_uuid="stranger"))

    assert CallRecord.objects.get(call_uuid="stranger").outcome == "unknown"


def test_a_caller_that_is_not_a_number_costs_only_the_insert(plivo, live_order, django_assert_num_queries):
    with django_assert_num_queries(1):
        plivo.signed_post("/voice/answer/", call_params("sip:alice@example.com", call_uuid="sip"))

    assert CallRecord.objects.get(call_uuid="sip").from_number == "sip:alice@example.com"


def test_a_retried_answer_keeps_the_first_call_record(plivo, live_order):
    plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="retried"))
    plivo.signed_post("/voice/answer/", call_params("14155559999", call_uuid="retried"))

    record = CallRecord.objects.get(call_uuid="retried")
    assert record.outcome == "connected"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is a PostgreSQL setting")
# In autocommit, as in production: inside a test's transaction SET LOCAL would last until its rollback.
@pytest.mark.django_db(transaction=True)
def test_the_call_record_skips_the_flush_wait_without_changing_the_connection(plivo, live_order):
    with CaptureQueriesContext(connection) as queries:
        plivo.signed_post("/voice/answer/", call_params("14156667777"))

    (insert,) = [query["sql"] for query in queries if "INSERT" in query["sql"]]
    assert insert.startswith("SET LOCAL synchronous_commit TO OFF;")
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
