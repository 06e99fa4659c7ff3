"""No callback's data is lost to a database error: it is queued for the worker, or Plivo retries it.

The hangup, dial-status, recording and voicemail callbacks only record what
happened; when the database fails one (a lock or statement timeout), the
caller hears what they hear today and the request is queued as a task that
the worker records later with the same service function (voice/tasks.py). The
SMS callback answers 503 instead, and Plivo sends it again.
"""

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from orders.models import Line
from tests.support.concurrency import postgres_only
from tests.support.events import events_of, failed_tasks, run_worker
from tests.support.webhooks import (
    PlivoClient,
    answer,
    assert_apology,
    call_params,
    dial_status,
    hangup,
    sms_params,
    xml_of,
)
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY
from voice import tasks
from voice.models import CallRecord, MessageRecord, Recording, WebhookNonce
from voice.plivo.webhook import expected_signature_v2

pytestmark = pytest.mark.django_db

RECORD_URL = "https://media.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Recording/rec-1.mp3"
LOCK_TIMEOUT = OperationalError("canceling statement due to lock timeout")


@contextmanager
def fails_once(target: str) -> Iterator[mock.MagicMock]:
    """``target`` (a dotted path) raises a lock timeout the first time it is called, then works."""
    original = import_string(target)
    failed: list[bool] = []

    def first_time_fails(*args, **kwargs):
        if not failed:
            failed.append(True)
            raise LOCK_TIMEOUT
        return original(*args, **kwargs)

    with mock.patch(target, side_effect=first_time_fails) as patched:
        yield patched


def queued_callbacks() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path="voice.tasks.replay_callback").order_by("enqueued_at"))


def replay_again(task: DBTaskResult) -> None:
    """Queue the same callback a second time (as the sweep does after a worker died mid-task) and run it."""
    tasks.replay_callback.enqueue(*task.args_kwargs["args"], **task.args_kwargs["kwargs"])
    run_worker()


def call_state() -> tuple:
    """What a replay may change: the call's record, the hourly counters, the events."""
    record = CallRecord.objects.values().get(call_uuid="call-1")
    counters = Line.objects.values_list("customer_calls", "agent_calls").get()
    events = [(event.type, event.data) for event in events_of("call.completed") + events_of("call.missed")]
    return record, counters, events


def test_a_hangup_the_database_failed_is_queued_and_recorded_once_by_the_worker(plivo, live_order):
    answer(plivo)
    dial_status(plivo, "completed")

    with fails_once("voice.records.record_hangup"):
        root = hangup(plivo)
        sent_at = timezone.now()

        # Answered as today: the apology, 200. Nothing recorded yet, but the request is queued.
        assert_apology(root)
        record = CallRecord.objects.get()
        assert (record.ended_at, record.duration) == (None, None)
        assert Line.objects.get().customer_calls == 0
        assert events_of("call.completed") == []
        (queued,) = queued_callbacks()
        assert queued.status == "READY"

        run_worker()

    record.refresh_from_db()
    assert (record.duration, record.bill_duration, record.hangup_cause) == (42, 60, "Normal Hangup")
    # When Plivo said the call ended, not when the worker got to it.
    assert record.ended_at is not None and record.ended_at <= sent_at
    assert Line.objects.get().customer_calls == 1
    (completed,) = events_of("call.completed")
    assert (completed.data["duration"], completed.data["proxy_number"]) == (42, PROXY)
    queued.refresh_from_db()
    assert (queued.status, failed_tasks()) == ("SUCCESSFUL", [])

    before = call_state()
    replay_again(queued)
    assert call_state() == before
    assert failed_tasks() == []


def test_a_dial_status_the_database_failed_raises_its_missed_call_once_from_the_worker(plivo, live_order):
    answer(plivo)

    with fails_once("voice.records.update_call"):
        root = dial_status(plivo, "no-answer")

        # The caller hears the apology instead of the voicemail prompt; the status is not lost.
        assert_apology(root)
        assert CallRecord.objects.get().dial_status == ""
        assert events_of("call.missed") == []
        (queued,) = queued_callbacks()

        run_worker()

    assert CallRecord.objects.get().dial_status == "no-answer"
    (missed,) = events_of("call.missed")
    assert (missed.data["reason"], missed.data["proxy_number"]) == ("no-answer", PROXY)

    before = call_state()
    replay_again(queued)
    assert call_state() == before
    assert failed_tasks() == []


def post_recording(plivo, path: str, recording_id: str = "rec-1"):
    data = {"RecordUrl": RECORD_URL, "RecordingID": recording_id, "RecordingDuration": "42"}
    return xml_of(plivo.signed_post(path, data))


@pytest.mark.parametrize(
    ("path", "kind", "event_type"),
    [
        ("/voice/recording/?call=call-1", "call", "recording.ready"),
        ("/voice/voicemail/?call=call-1", "voicemail", "voicemail.received"),
    ],
)
def test_a_recording_the_database_failed_is_kept_and_announced_once_by_the_worker(
    settings, plivo, live_order, path, kind, event_type
):
    settings.MASKING_RECORD_CALLS = True
    answer(plivo)

    with fails_once("voice.records.record_recording"):
        post_recording(plivo, path)

        assert not Recording.objects.exists()
        assert events_of(event_type) == []
        (queued,) = queued_callbacks()

        run_worker()

    recording = Recording.objects.get()
    assert (recording.kind, recording.url, recording.duration, recording.order) == (kind, RECORD_URL, 42, live_order)
    (announced,) = events_of(event_type)
    assert (announced.data["recording_url"], announced.data["proxy_number"]) == (RECORD_URL, PROXY)

    replay_again(queued)
    assert list(Recording.objects.values_list("recording_id", "url", "duration")) == [("rec-1", RECORD_URL, 42)]
    assert len(events_of(event_type)) == 1
    assert failed_tasks() == []


def test_a_callback_plivo_retried_after_it_was_queued_is_recorded_once(plivo, live_order):
    answer(plivo)
    dial_status(plivo, "completed")
    with fails_once("voice.records.record_hangup"):
        hangup(plivo)
    hangup(plivo)  # Plivo's own retry got through first

    run_worker()

    assert Line.objects.get().customer_calls == 1
    assert len(events_of("call.completed")) == 1
    assert failed_tasks() == []


def test_a_replay_the_database_fails_again_is_tried_again_later(plivo, live_order):
    answer(plivo)
    with mock.patch("voice.records.record_hangup", side_effect=LOCK_TIMEOUT):
        hangup(plivo)
        run_worker()

    first, retry = queued_callbacks()
    assert (first.status, retry.status) == ("SUCCESSFUL", "READY")
    assert retry.args_kwargs["args"][:4] == first.args_kwargs["args"][:4]
    assert retry.args_kwargs["args"][4] == 1  # the attempt
    assert retry.run_after > timezone.now()
    assert CallRecord.objects.get().ended_at is None


def test_when_even_queueing_fails_the_error_is_logged_without_a_phone_number(plivo, live_order, caplog):
    answer(plivo)
    caplog.set_level(logging.INFO)

    with (
        mock.patch("voice.records.record_hangup", side_effect=LOCK_TIMEOUT),
        mock.patch("voice.tasks.enqueue", side_effect=OperationalError(f"could not send {CUSTOMER}")),
    ):
        root = hangup(plivo)

    assert_apology(root)
    assert queued_callbacks() == []
    (lost,) = [r for r in caplog.records if "could not queue" in r.getMessage()]
    assert lost.levelno == logging.ERROR
    assert "hangup" in lost.getMessage()
    for record in caplog.records:
        for number in (CUSTOMER, AGENT_PHONE, PROXY):
            assert number.lstrip("+")[1:] not in record.getMessage()


def test_the_queued_task_holds_the_request_as_plivo_sent_it(plivo, live_order):
    # Personal data (phone numbers), like the call record; deleted with finished tasks (docs/architecture.md).
    with mock.patch("voice.records.record_hangup", side_effect=LOCK_TIMEOUT):
        plivo.signed_post("/voice/hangup/?order=7&first=agent", call_params(CUSTOMER.lstrip("+"), call_uuid="c-9"))

    (queued,) = queued_callbacks()
    view_name, query, form, received_at, *_ = queued.args_kwargs["args"]
    assert (view_name, query) == ("hangup", {"order": ["7"], "first": ["agent"]})
    assert (form["CallUUID"], form["From"], form["To"]) == (["c-9"], [CUSTOMER.lstrip("+")], [PROXY])
    assert json.loads(json.dumps(queued.args_kwargs)) == queued.args_kwargs
    assert received_at


def v2_headers() -> dict[str, str]:
    nonce = "retried-nonce-1"
    signature = expected_signature_v2(settings.PUBLIC_BASE_URL + "/voice/message/", nonce, settings.PLIVO_AUTH_TOKEN)
    return {"X-Plivo-Signature-V2": signature.decode(), "X-Plivo-Signature-V2-Nonce": nonce}


def test_a_text_the_database_failed_answers_503_and_plivo_s_retry_with_the_same_nonce_relays_it_once(live_order):
    # Whether Plivo's retry reuses the V2 nonce is not documented (docs/plivo.md, question (c)):
    # the nonce is spent only with the text's record, so either way the retry gets through.
    form = sms_params(CUSTOMER, "at the gate", message_uuid="sms-1")
    headers = v2_headers()

    def send():
        return PlivoClient().post("/voice/message/", form, headers=headers)

    with mock.patch("voice.messages.records.record_message", side_effect=LOCK_TIMEOUT):
        failed = send()
    assert failed.status_code == 503
    assert not MessageRecord.objects.exists()
    assert not WebhookNonce.objects.exists()

    retried = send()
    replayed = send()

    relayed = xml_of(retried).find("Message")
    assert (relayed.get("dst"), relayed.text) == (AGENT_PHONE.lstrip("+"), "at the gate")
    assert xml_of(replayed).find("Message") is None  # the nonce is spent now
    record = MessageRecord.objects.get()
    assert (record.message_uuid, record.outcome) == ("sms-1", "relayed")
    (event,) = events_of("message.relayed")
    assert event.data["proxy_number"] == PROXY


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_hangup_that_meets_a_real_lock_timeout_is_recorded_by_the_worker_once_the_row_is_free(live_order):
    plivo = PlivoClient()
    answer(plivo)
    dial_status(plivo, "completed")
    locked, release = threading.Event(), threading.Event()

    def hold_the_order() -> None:
        try:
            with transaction.atomic():
                # The row the hangup counts the call on: the order's line.
                Line.objects.select_for_update().get(order_id=live_order.pk)
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_order)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")  # as the web process has DATABASE_LOCK_TIMEOUT
        assert_apology(hangup(plivo))  # its hourly counter update timed out waiting for the line's row
    finally:
        release.set()
        holder.join(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    record = CallRecord.objects.get()
    assert (record.ended_at, Line.objects.get().customer_calls, events_of("call.completed")) == (None, 0, [])
    assert len(queued_callbacks()) == 1

    run_worker()

    record.refresh_from_db()
    assert (record.duration, record.ended_at is not None) == (42, True)
    assert Line.objects.get().customer_calls == 1
    assert len(events_of("call.completed")) == 1
