"""Call and message records: the one module that writes them.

Each record is keyed on Plivo's UUID for the call or text, and every write is
one ``INSERT … ON CONFLICT (uuid)``: the first callback to arrive creates the
row, a retried or later one completes it (or, for the answer and texts,
leaves it as it was). What Plivo sent arrives typed and clipped
(voice/plivo/params.py).

The statements are written out rather than built by the ORM because the
answer's insert is on the webhook's hot path (see bench/PROFILE.md). Their
column lists are the models' fields, checked by tests/voice/test_records.py, so a
new field cannot silently fall out of them.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache

from django.db import connection, transaction
from django.utils import timezone

from orders.models import Role
from orders.routing import Route

from .models import CallRecord, MessageRecord, Recording
from .plivo.params import Call, Message, RecordingReady

# Every column of each record with the value a row starts with; the UUID and
# the time are filled in per write. Mirrors the models' defaults (tested).
CALL_RECORD_DEFAULTS: dict[str, object] = {
    "call_uuid": "",
    "order_id": None,
    "line_id": None,
    "caller_role": Role.UNKNOWN.value,
    "initiated_by": CallRecord.Initiator.CALLER.value,
    "from_number": "",
    "proxy_number": "",
    "dialled_number": "",
    "outcome": CallRecord.Outcome.UNKNOWN.value,
    "asked_pin": False,
    "dial_status": "",
    "hangup_cause": "",
    "duration": None,
    "bill_duration": None,
    "started_at": None,
    "ended_at": None,
}
MESSAGE_RECORD_DEFAULTS: dict[str, object] = {
    "message_uuid": "",
    "order_id": None,
    "line_id": None,
    "sender_role": Role.UNKNOWN.value,
    "from_number": "",
    "proxy_number": "",
    "relayed_to": "",
    "outcome": MessageRecord.Outcome.UNKNOWN.value,
    "received_at": None,
}

# Call records are a log, not money or routing state: a Postgres crash may lose
# the last fraction of a second of them (never corrupt them) and the call still
# connects, so the answer does not wait for the WAL flush. Sent in the same
# statement string as the INSERT, it stays one round trip and applies only to
# that statement's implicit transaction: orders keep durable commits. (Two
# statements in one execute need client-side binding: psycopg2, or psycopg 3
# with Django's default cursor.) See docs/performance.md, "Call records and synchronous_commit".
ASYNC_COMMIT_PREFIX = "SET LOCAL synchronous_commit TO OFF; "


@lru_cache(maxsize=32)
def _upsert_sql(table: str, columns: tuple[str, ...], key: str, update: tuple[str, ...]) -> str:
    placeholders = ", ".join(["%s"] * len(columns))
    if update:
        on_conflict = "DO UPDATE SET " + ", ".join(f"{column} = excluded.{column}" for column in update)
    else:
        on_conflict = "DO NOTHING"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) ON CONFLICT ({key}) {on_conflict}"  # noqa: S608 - names from the models, values as parameters


def _write(table: str, row: Mapping[str, object], *, key: str, update: Sequence[str] = (), prefix: str = "") -> bool:
    """Insert ``row``, or on a conflicting ``key`` update the ``update`` columns. True when a row was written."""
    columns = tuple(row)
    sql = _upsert_sql(table, columns, key, tuple(update))
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql, list(row.values()))
        return cursor.rowcount == 1


def _now() -> object:
    return connection.ops.adapt_datetimefield_value(timezone.now())


def record_answer(call: Call, route: Route, outcome: str, *, initiated_by: str = CallRecord.Initiator.CALLER) -> bool:
    """The answer's record of a call; a retried answer keeps the first. True when the record is new.

    No CallUUID (a hand-made request), no record.
    """
    if not call.call_uuid:
        return False
    row = {
        **CALL_RECORD_DEFAULTS,
        "call_uuid": call.call_uuid,
        "order_id": route.order_id,
        "line_id": route.line_id,
        "caller_role": route.role.value,
        "initiated_by": str(initiated_by),
        "from_number": call.caller.text,
        "proxy_number": call.proxy_number.text,
        "dialled_number": route.connect_to or "",
        "outcome": outcome,
        "asked_pin": outcome == CallRecord.Outcome.PIN_PROMPTED,
        "started_at": _now(),
    }
    prefix = ASYNC_COMMIT_PREFIX if connection.vendor == "postgresql" else ""
    return _write(CallRecord._meta.db_table, row, key="call_uuid", prefix=prefix)


def update_call(call: Call, *, on_insert: Mapping[str, object] | None = None, **fields: object) -> None:
    """Set ``fields`` on the call's record, creating it if this callback came before the answer's.

    ``on_insert`` holds values only a record this callback creates gets; an
    existing record keeps its own.
    """
    if not call.call_uuid:
        return
    values = {
        name: connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value
        for name, value in fields.items()
    }
    row = {
        **CALL_RECORD_DEFAULTS,
        "call_uuid": call.call_uuid,
        "from_number": call.caller.text,
        "proxy_number": call.proxy_number.text,
        "started_at": _now(),
        **(on_insert or {}),
        **values,
    }
    _write(CallRecord._meta.db_table, row, key="call_uuid", update=tuple(values))


def record_hangup(call: Call, *, on_insert: Mapping[str, object] | None = None, **fields: object) -> bool:
    """Set the hangup's ``fields`` on the call's record. True on the call's first hangup.

    Plivo retries callbacks; what must happen once per call (counting it
    towards the hourly limit, in the metrics) asks this. The record's row lock makes two
    copies of one hangup take turns, so only one of them is the first.
    """
    if not call.call_uuid:
        return False
    with transaction.atomic():
        ended = (
            CallRecord.objects.select_for_update().filter(call_uuid=call.call_uuid).values_list("ended_at", flat=True)
        )
        ended_before = [ended_at for ended_at in ended[:1] if ended_at is not None]
        update_call(call, on_insert=on_insert, **fields)
    return not ended_before


def record_message(message: Message, route: Route, outcome: str) -> bool:
    """The record of a text; a retried callback keeps the first. True when the record is new.

    No MessageUUID, no record.
    """
    if not message.message_uuid:
        return False
    row = {
        **MESSAGE_RECORD_DEFAULTS,
        "message_uuid": message.message_uuid,
        "order_id": route.order_id,
        "line_id": route.line_id,
        "sender_role": route.role.value,
        "from_number": message.sender.text,
        "proxy_number": message.proxy_number.text,
        "relayed_to": route.connect_to if outcome == MessageRecord.Outcome.RELAYED else "",
        "outcome": outcome,
        "received_at": _now(),
    }
    return _write(MessageRecord._meta.db_table, row, key="message_uuid")


def record_recording(ready: RecordingReady, *, kind: str, call: CallRecord | None) -> Recording | None:
    """The recording Plivo posted (a Record action or callbackUrl), once per RecordingID. None without an id.

    Plivo may post the same recording twice (action and callback, retries) and
    in either order; the action of a recording started on answer carries -1
    for the duration. So a known duration is never replaced by an unknown one,
    and a recording whose media was deleted never gets its URL back. A URL
    that is not on Plivo's media host is not kept (voice.plivo.media).
    """
    recording_id, url, duration = ready.recording_id, ready.url, ready.duration
    if not recording_id:
        return None
    with transaction.atomic():
        recording, created = Recording.objects.select_for_update().get_or_create(
            recording_id=recording_id,
            defaults={
                "kind": kind,
                "call": call,
                "order_id": call.order_id if call else None,
                "url": url,
                "duration": duration,
            },
        )
        if created:
            return recording
        changed = []
        if url and not recording.url and recording.deleted_at is None:
            recording.url = url
            changed.append("url")
        if duration is not None and recording.duration is None:
            recording.duration = duration
            changed.append("duration")
        if changed:
            recording.save(update_fields=changed)
    return recording


def forget_recording_media(recording: Recording) -> None:
    """Plivo confirmed the media is gone: clear its URL and say when."""
    Recording.objects.filter(pk=recording.pk).update(url="", deleted_at=timezone.now())
