"""The hangup webhook (/voice/hangup/): it completes the call's one record, whatever order Plivo's callbacks come in."""

import logging

import pytest

from orders.models import Agent
from tests.support.webhooks import answer, dial_status, hangup
from tests.support.world import CUSTOMER, PROXY, open_line
from voice.models import CallRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def errors_logged(caplog):
    caplog.set_level(logging.WARNING)
    return lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_dial_status_then_hangup_completes_one_record(plivo, live_order):
    answer(plivo)

    assert dial_status(plivo, "completed").find("Hangup") is not None
    assert len(hangup(plivo)) == 0

    record = CallRecord.objects.get()
    assert record.order == live_order
    assert record.outcome == "connected"
    assert record.dial_status == "completed"
    assert record.hangup_cause == "Normal Hangup"
    assert (record.duration, record.bill_duration) == (42, 60)
    assert record.ended_at is not None
    assert record.ended_at >= record.started_at


def test_a_hangup_before_the_dial_status_and_its_retry_still_complete_one_record(plivo, live_order, errors_logged):
    # Plivo retries, and the network reorders.
    answer(plivo)

    assert len(hangup(plivo)) == 0
    dial_status(plivo, "completed")
    hangup(plivo)

    record = CallRecord.objects.get()
    assert (record.order, record.outcome, record.dial_status) == (live_order, "connected", "completed")
    assert (record.hangup_cause, record.duration, record.bill_duration) == ("Normal Hangup", 42, 60)
    assert record.ended_at is not None
    assert errors_logged() == []


def test_a_hangup_for_a_call_never_answered_is_recorded_once(plivo, db, errors_logged):
    first = hangup(plivo, call_uuid="never-answered")
    retried = hangup(plivo, call_uuid="never-answered")

    assert len(first) == len(retried) == 0
    record = CallRecord.objects.get()
    assert record.call_uuid == "never-answered"
    assert (record.from_number, record.proxy_number) == (CUSTOMER, PROXY)
    assert (record.order, record.outcome, record.hangup_cause, record.duration) == (
        None,
        "unknown",
        "Normal Hangup",
        42,
    )
    assert errors_logged() == []


def test_a_hangup_falls_back_to_the_hangup_cause_code_name(plivo, live_order):
    hangup(plivo, HangupCauseName="", HangupCause="USER_BUSY", Duration="0", BillDuration="")

    record = CallRecord.objects.get()
    assert (record.hangup_cause, record.duration, record.bill_duration) == ("USER_BUSY", 0, None)


@pytest.mark.parametrize("duration", ["", "abc", "-5", "99999999999"])
def test_a_hangup_with_a_nonsense_duration_stores_none(plivo, live_order, duration):
    answer(plivo)

    hangup(plivo, Duration=duration)

    record = CallRecord.objects.get()
    assert record.duration is None
    assert record.ended_at is not None


def test_a_hangup_of_a_pin_prompted_call_keeps_its_outcome(plivo, proxy_number, agent):
    open_line(CUSTOMER, agent)
    open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))
    answer(plivo)

    hangup(plivo)

    record = CallRecord.objects.get()
    assert (record.outcome, record.hangup_cause) == ("pin_prompted", "Normal Hangup")
