"""The call log: one CallRecord per CallUUID, whatever order Plivo's callbacks come in."""

import xml.etree.ElementTree as ET

import pytest
from django.utils import timezone

from orders.models import Agent
from voice.models import CallRecord
from voice.xml import NOT_AVAILABLE

from .conftest import (
    AGENT_PHONE,
    CUSTOMER,
    PROXY,
    PlivoClient,
    call_params,
    open_line,
    postgres_only,
    run_concurrently,
    spoken,
    xml_of,
)

pytestmark = pytest.mark.django_db


def answer(plivo: PlivoClient, caller: str = "14156667777", call_uuid: str = "call-1", **extra: str) -> ET.Element:
    return xml_of(plivo.signed_post("/voice/answer/", call_params(caller, call_uuid=call_uuid, **extra)))


def dial_status(plivo: PlivoClient, status: str = "completed", call_uuid: str = "call-1") -> ET.Element:
    data = call_params(
        "14156667777",
        call_uuid=call_uuid,
        DialStatus=status,
        DialHangupCause="NORMAL_CLEARING",
        DialALegUUID=call_uuid,
        DialBLegUUID="b-leg-1",
    )
    return xml_of(plivo.signed_post("/voice/dial-status/", data))


def hangup(plivo: PlivoClient, call_uuid: str = "call-1", caller: str = "14156667777", **extra: str) -> ET.Element:
    fields = {
        "CallStatus": "completed",
        "Duration": "42",
        "BillDuration": "60",
        "HangupCause": "NORMAL_CLEARING",
        "HangupCauseName": "Normal Hangup",
        "HangupCauseCode": "4000",
        "HangupSource": "Caller",
        **extra,
    }
    return xml_of(plivo.signed_post("/voice/hangup/", call_params(caller, call_uuid=call_uuid, **fields)))


def test_the_same_call_uuid_twice_at_answer_makes_one_record(plivo, live_order):
    first = answer(plivo)
    retried = answer(plivo)

    # Only the first answer for a CallUUID reveals a number (tests/test_replays.py).
    assert first.find("Dial").find("Number").text == "14156667778"
    assert retried.find("Dial") is None
    record = CallRecord.objects.get()
    assert (record.call_uuid, record.order, record.outcome) == ("call-1", live_order, "connected")


def test_a_retried_answer_keeps_the_first_record(plivo, live_order):
    answer(plivo)
    live_order.masking_expires_at = timezone.now()
    live_order.save()

    answer(plivo)

    record = CallRecord.objects.get()
    assert (record.outcome, record.order) == ("connected", live_order)


def test_two_calls_make_two_records(plivo, live_order):
    answer(plivo, call_uuid="call-1")
    answer(plivo, caller="14156667778", call_uuid="call-2")

    roles = dict(CallRecord.objects.values_list("call_uuid", "caller_role"))
    assert roles == {"call-1": "customer", "call-2": "agent"}


def test_the_answer_records_who_called_whom(plivo, live_order):
    answer(plivo)

    record = CallRecord.objects.get()
    assert record.from_number == CUSTOMER
    assert record.proxy_number == PROXY
    assert record.dialled_number == AGENT_PHONE
    assert record.started_at is not None
    assert record.ended_at is None


def test_an_answer_without_a_call_uuid_reveals_no_number_and_records_nothing(plivo, live_order):
    data = call_params("14156667777")
    del data["CallUUID"]

    root = xml_of(plivo.signed_post("/voice/answer/", data))

    # Nothing to tell a replay from the first request by: no number (voice.calls.answer).
    assert root.find("Dial") is None
    assert not CallRecord.objects.exists()


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


def test_hangup_before_dial_status_completes_one_record(plivo, live_order):
    answer(plivo)

    hangup(plivo)
    dial_status(plivo, "completed")

    record = CallRecord.objects.get()
    assert (record.order, record.outcome) == (live_order, "connected")
    assert (record.dial_status, record.hangup_cause, record.duration) == ("completed", "Normal Hangup", 42)
    assert record.ended_at is not None


def test_a_retried_hangup_does_not_add_a_record(plivo, live_order):
    answer(plivo)
    hangup(plivo)
    hangup(plivo)

    assert CallRecord.objects.count() == 1


def test_a_hangup_for_an_unknown_call_makes_one_record_without_error(plivo, db):
    root = hangup(plivo, call_uuid="never-answered")

    assert len(root) == 0
    record = CallRecord.objects.get()
    assert record.call_uuid == "never-answered"
    assert (record.from_number, record.proxy_number) == (CUSTOMER, PROXY)
    assert (record.order, record.outcome, record.hangup_cause, record.duration) == (
        None,
        "unknown",
        "Normal Hangup",
        42,
    )


def test_a_dial_status_for_an_unknown_call_makes_one_record(plivo, db):
    root = dial_status(plivo, "busy", call_uuid="never-answered")

    assert spoken(root) == [NOT_AVAILABLE]
    record = CallRecord.objects.get()
    assert (record.call_uuid, record.dial_status, record.order) == ("never-answered", "busy", None)


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


@pytest.mark.parametrize("status", ["busy", "failed", "timeout", "no-answer", "cancel"])
def test_a_dial_that_did_not_complete_tells_the_caller_and_hangs_up(plivo, live_order, status):
    answer(plivo)

    root = dial_status(plivo, status)

    assert spoken(root) == [NOT_AVAILABLE]
    assert root[-1].tag == "Hangup"
    assert CallRecord.objects.get().dial_status == status


def test_a_completed_dial_just_hangs_up(plivo, live_order):
    answer(plivo)

    root = dial_status(plivo, "completed")

    assert [child.tag for child in root] == ["Hangup"]
    assert CallRecord.objects.get().dial_status == "completed"


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_answer_make_one_record(live_order):
    results = run_concurrently(*[lambda: answer(PlivoClient()) for _ in range(6)])

    # The insert decides: exactly one of them created the record and dials.
    dialled = [root.find("Dial/Number") for root in results]
    assert [number.text for number in dialled if number is not None] == ["14156667778"]
    record = CallRecord.objects.get()
    assert (record.order, record.outcome) == (live_order, "connected")


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_dial_status_and_hangup_of_an_unknown_call_make_one_complete_record(db):
    results = run_concurrently(
        lambda: dial_status(PlivoClient(), "completed"),
        lambda: hangup(PlivoClient()),
        lambda: dial_status(PlivoClient(), "completed"),
        lambda: hangup(PlivoClient()),
    )

    assert all(isinstance(root, ET.Element) for root in results), results
    assert not any(spoken(root) for root in results)
    record = CallRecord.objects.get()
    assert (record.dial_status, record.hangup_cause, record.duration) == ("completed", "Normal Hangup", 42)
