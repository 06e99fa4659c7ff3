"""A callback waiting on one order's row lock never delays another order's callbacks (Postgres).

Nothing global is locked on the way to raising an event (orders/events/emit.py),
so a hangup stuck behind order B's row lock (its hourly counter update) holds
up only order B: a dial status for order A answers at once, its event committed.
"""

import threading
import time

import pytest
from django.db import connection, transaction

from orders.models import Agent, Line
from tests.support.concurrency import postgres_only
from tests.support.events import events_of
from tests.support.webhooks import PlivoClient, answer, call_params, dial_status, xml_of
from tests.support.world import open_line
from voice.models import CallRecord

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]

CUSTOMER_A = "+14156660001"
CUSTOMER_B = "+14156660002"


def wait_for_a_lock_wait(timeout: float = 10) -> None:
    """Until some other connection of this database waits for a row lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError("no request ever waited for the lock")


def test_a_hangup_waiting_for_order_b_s_row_does_not_delay_order_a_s_dial_status(proxy_number):
    agent = Agent.objects.create(name="Bob", phone="+14156667778")
    order_a, order_b = open_line(CUSTOMER_A, agent, name="A"), open_line(CUSTOMER_B, agent, name="B")
    plivo = PlivoClient()
    answer(plivo, CUSTOMER_A.lstrip("+"), call_uuid="call-a")
    answer(plivo, CUSTOMER_B.lstrip("+"), call_uuid="call-b")
    dial_status(plivo, "completed", call_uuid="call-b", caller=CUSTOMER_B.lstrip("+"))

    locked, release = threading.Event(), threading.Event()
    hangup_b: dict[str, object] = {}

    def hold_order_b() -> None:
        try:
            with transaction.atomic():
                # The row the hangup counts the call on: order B's line.
                Line.objects.select_for_update().get(order_id=order_b.pk)
                locked.set()
                release.wait(timeout=10)  # about 3 s: until order A has been served
        finally:
            connection.close()

    def hang_up_order_b() -> None:
        try:
            locked.wait(timeout=10)
            started = time.monotonic()
            form = call_params(CUSTOMER_B.lstrip("+"), call_uuid="call-b", CallStatus="completed", Duration="42")
            hangup_b["response"] = PlivoClient().signed_post("/voice/hangup/", form)
            hangup_b["seconds"] = time.monotonic() - started
        finally:
            connection.close()

    threads = [threading.Thread(target=hold_order_b), threading.Thread(target=hang_up_order_b)]
    for thread in threads:
        thread.start()
    try:
        assert locked.wait(timeout=10)
        wait_for_a_lock_wait()  # order B's hangup now waits for the row

        started = time.monotonic()
        dial_status(plivo, "no-answer", call_uuid="call-a", caller=CUSTOMER_A.lstrip("+"))
        order_a_seconds = time.monotonic() - started

        assert order_a_seconds < 1.0
        (missed,) = events_of("call.missed")
        assert (missed.data["call_uuid"], missed.data["reference"]) == ("call-a", order_a.reference)
        assert threads[1].is_alive(), "order B's hangup did not wait for the row"
        assert CallRecord.objects.get(call_uuid="call-b").ended_at is None
        time.sleep(max(0.0, 3 - (time.monotonic() - started)))
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=30)

    assert not any(thread.is_alive() for thread in threads)
    xml_of(hangup_b["response"])
    assert hangup_b["seconds"] >= 2.5
    record = CallRecord.objects.get(call_uuid="call-b")
    assert (record.duration, record.ended_at is not None) == (42, True)
    assert Line.objects.get(order_id=order_b.pk).customer_calls == 1
    (completed,) = events_of("call.completed")
    assert (completed.data["call_uuid"], completed.data["reference"]) == ("call-b", order_b.reference)
