"""What each call webhook does, and what it tells the call records.

Each takes what Plivo sent as typed values (voice/plivo/params.py) and
returns the XML to answer. The views, the admin's call simulator and
``simulate_call`` share ``xml_for`` and ``pin_xml``, so the simulator shows
exactly what Plivo would get; only the webhooks write records (through
voice.records).
"""

import logging
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from numbermasking import metrics
from orders import services
from orders.events import emit, line_data, order_data
from orders.models import EventType, Line, Order, Role, call_limit
from orders.phones import log_value, redact
from orders.routing import Action, Route, resolve, resolve_bridge, resolve_pin

from . import records
from .models import CallRecord, Recording
from .plivo import xml
from .plivo.params import Call, DialStatus, Hangup, Pin, PlatformCall, RecordingReady, Whisper

logger = logging.getLogger(__name__)

Outcome = CallRecord.Outcome

_OUTCOMES = {
    Action.CONNECT: Outcome.CONNECTED,
    Action.ASK_PIN: Outcome.PIN_PROMPTED,
    Action.BLOCKED: Outcome.BLOCKED,
    Action.LIMITED: Outcome.LIMITED,
}

# Dial statuses in which the callee never talked to the caller (docs/plivo.md,
# "Webhook parameters" and question (a)); any status but an accepted
# "completed" is a missed call for the platform, these are the documented ones.
MISSED_DIAL_STATUSES = frozenset({"no-answer", "busy", "failed", "timeout", "cancel"})
# A Dial Plivo reports "completed" although the callee never pressed the accept
# key: recorded with this status, and raised as a missed call with this reason.
NOT_ACCEPTED = "not-accepted"


def xml_for(route: Route, *, attempt: int = 1, call_uuid: str = "", greeting: str = "") -> str:
    if route.action == Action.CONNECT:
        return xml.dial(
            route.connect_to,
            caller_id=route.proxy_number,
            order_id=route.order_id,
            callee=route.callee_role,
            caller=route.role,
            call_uuid=call_uuid,
            greeting=greeting,
        )
    if route.action == Action.ASK_PIN:
        return xml.ask_pin(attempt=attempt)
    if route.action == Action.UNAVAILABLE:
        return xml.party_unavailable(route.proxy_number)
    if route.action == Action.BLOCKED:
        return xml.blocked_caller()
    if route.action == Action.LIMITED:
        return xml.call_limit_reached()
    return xml.unknown_caller(route.proxy_number)


def answer(call: Call) -> str:
    """Answer webhook: route the call, log it once per CallUUID, return XML.

    Only the first answer for a CallUUID reveals a number. The insert that
    records the call says whether the CallUUID is new, so a replayed request
    (captured and sent again, byte for byte, maybe long after) costs no extra
    query and dials no one. A genuine Plivo retry of the answer URL only
    happens after our first answer failed to reach it in time; its caller
    hears the apology the fallback URL would give, and a new call (a new
    CallUUID) goes through. No CallUUID, no record, and no number either.
    """
    route = resolve(call.caller.e164, call.proxy_number.e164)
    # DEBUG, not INFO: the call record written below is the per-call log (the
    # admin shows it), and a log line per call is a measurable share of the
    # answer (bench/PROFILE.md). LOG_LEVEL=DEBUG brings it back.
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("call from %s to %s: %s", redact(route.caller), redact(route.proxy_number), route.action)
    if not records.record_answer(call, route, _OUTCOMES.get(route.action, Outcome.UNKNOWN)):
        logger.info("answered call %s again with the apology: its CallUUID was seen before", log_value(call.call_uuid))
        return xml.apology()
    return xml_for(route, call_uuid=call.call_uuid)


def bridge(platform: PlatformCall, call: Call) -> str:
    """Answer URL of a click-to-call: the party rung first answered; tell them whom they reach and dial the other.

    The order and the first party come from the query the service itself gave
    Plivo (signed like the rest of the request). As on the answer, one lookup
    and one insert, and a replayed CallUUID hears the apology and dials no one.
    """
    route = resolve_bridge(platform.order_id, platform.first or Role.UNKNOWN, platform.to)
    if not records.record_answer(
        call, route, _OUTCOMES.get(route.action, Outcome.UNKNOWN), initiated_by=CallRecord.Initiator.PLATFORM
    ):
        logger.info("bridged %s again with the apology: CallUUID seen before", log_value(call.call_uuid))
        return xml.apology()
    if route.action in (Action.UNKNOWN, Action.BLOCKED):
        # The line closed (or the order went) between the request and the answer,
        # or a party's number was blocked: nobody is dialled.
        return xml.say_and_hang_up(settings.MASKING_NOT_AVAILABLE_MESSAGE)
    greeting = xml.bridge_text(route.reference, route.callee_role) if route.action == Action.CONNECT else ""
    return xml_for(route, call_uuid=call.call_uuid, greeting=greeting)


def pin_xml(route: Route, attempt: int, call_uuid: str = "") -> str:
    if route.action in (Action.CONNECT, Action.UNAVAILABLE, Action.BLOCKED, Action.LIMITED):
        return xml_for(route, call_uuid=call_uuid)
    if attempt < xml.PIN_ATTEMPTS:
        return xml.ask_pin(attempt=attempt + 1)
    return xml.say_and_hang_up(settings.MASKING_PIN_GOODBYE)


def simulate_route(caller: str | None, proxy_number: str | None, digits: str = "") -> tuple[Route, str]:
    """The route and XML the answer webhook (or, with digits, the PIN webhook) would return; numbers in E.164."""
    if digits:
        route = resolve_pin(caller, proxy_number, digits)
        return route, pin_xml(route, attempt=1)
    route = resolve(caller, proxy_number)
    return route, xml_for(route)


def simulate(caller: str | None, proxy_number: str | None, digits: str = "") -> str:
    """The XML the answer webhook (or, with digits, the PIN webhook) would return."""
    return simulate_route(caller, proxy_number, digits)[1]


def whisper(asked: Whisper) -> str:
    """confirmSound: tell the callee who is calling about which order; one lookup, off the answer path."""
    order_id = asked.order_id
    reference = Order.objects.filter(pk=order_id).values_list("reference", flat=True).first() if order_id else None
    return xml.whisper(reference, asked.callee, asked.caller)


def pin(typed: Pin, attempt: int) -> str:
    """GetDigits action: connect on a right PIN, re-prompt, or give up."""
    call = typed.call
    route = resolve_pin(call.caller.e164, call.proxy_number.e164, typed.digits)
    with transaction.atomic():
        _pin_record(call, route, attempt)
    return pin_xml(route, attempt, call.call_uuid)


def _pin_record(call: Call, route: Route, attempt: int) -> None:
    # asked_pin again: should this callback come before the answer's insert, it creates the row.
    if route.action == Action.CONNECT:
        records.update_call(
            call,
            order_id=route.order_id,
            line_id=route.line_id,
            caller_role=route.role.value,
            dialled_number=route.connect_to,
            outcome=Outcome.CONNECTED.value,
            asked_pin=True,
        )
    elif route.action == Action.LIMITED:
        records.update_call(
            call,
            order_id=route.order_id,
            line_id=route.line_id,
            caller_role=route.role.value,
            outcome=Outcome.LIMITED.value,
        )
    elif route.action == Action.BLOCKED:
        records.update_call(call, outcome=Outcome.BLOCKED.value)
    elif attempt >= xml.PIN_ATTEMPTS:
        logger.info("call %s rejected after %d wrong PINs", log_value(call.call_uuid), attempt)
        records.update_call(call, outcome=Outcome.REJECTED.value, asked_pin=True)
        _call_event(_record_by_uuid(call.call_uuid), EventType.CALL_MISSED, reason="pin_refused")


def dial_status(typed: DialStatus) -> str:
    """Dial action: the call was taken (hang up), or missed (the text, the voicemail, or "not available")."""
    call, status = typed.call, typed.status
    accepted = status == "completed" and not typed.confirm_refused
    with transaction.atomic():
        records.update_call(call, dial_status=NOT_ACCEPTED if status == "completed" and not accepted else status)
        record = _record_by_uuid(call.call_uuid)
        if accepted:
            # Plivo may post the hangup first; the event waits for both.
            _call_event(record, EventType.CALL_COMPLETED, when=lambda record: record.ended_at is not None)
        else:
            reason = NOT_ACCEPTED if status == "completed" else status or "unknown"
            _call_event(record, EventType.CALL_MISSED, reason=reason)
    if accepted:
        return xml.hang_up()
    return _missed_call_xml(record, call.call_uuid)


def _missed_call_xml(record: CallRecord | None, call_uuid: str) -> str:
    order = record.order if record else None
    return xml.missed_call(
        call_uuid=call_uuid,
        reference=order.reference if order else None,
        caller_role=Role(record.caller_role) if record else Role.UNKNOWN,
        # The call record's, not the request's: after a purge it is blank and no text goes out.
        callee_number=record.dialled_number if record else None,
        # The line's own number: the callee calls back on the line the call came over.
        proxy_number=str(record.line.proxy_number.number) if record and record.line else None,
    )


def voicemail(ready: RecordingReady) -> str:
    """Record action and callback of a voicemail: keep it, raise ``voicemail.received``, thank the caller."""
    _keep_recording(ready, Recording.Kind.VOICEMAIL, EventType.VOICEMAIL_RECEIVED)
    return xml.voicemail_thanks()


def recording(ready: RecordingReady) -> str:
    """Record callbackUrl of a recorded call: keep it, raise ``recording.ready``. Plivo ignores the reply."""
    _keep_recording(ready, Recording.Kind.CALL, EventType.RECORDING_READY)
    return xml.empty()


def _keep_recording(ready: RecordingReady, kind: Recording.Kind, event_type: EventType) -> None:
    """Keep the recording once and raise ``event_type`` once, when Plivo has told us its URL and duration.

    Plivo may post the action and the callback in either order, and retry
    either; the one that completes the recording raises the event.
    """
    with transaction.atomic():
        record = _record_by_uuid(ready.call_uuid)
        kept = records.record_recording(ready, kind=kind, call=record)
        if kept is not None and kept.duration is not None and kept.url:
            _call_event(
                record,
                event_type,
                dedupe_key=f"{event_type.value}:{kept.recording_id}",
                duration=kept.duration,
                recording_id=kept.recording_id,
                recording_url=kept.url,
            )


def hangup(typed: Hangup, platform: PlatformCall | None = None, *, ended_at: datetime | None = None) -> str:
    """Hangup URL: the call ended. A click-to-call's hangup URL names the order and the first party in its query.

    ``ended_at`` is when Plivo sent it, for a hangup the worker records later
    (voice.tasks.replay_callback); now otherwise.
    """
    call = typed.call
    platform_call = _platform_call(platform)
    with transaction.atomic():
        fields: dict[str, object] = {
            "hangup_cause": typed.cause,
            "duration": typed.duration,
            "bill_duration": typed.bill_duration,
            "ended_at": ended_at or timezone.now(),
        }
        # A click-to-call whose record the hangup creates: the first party
        # never answered, so the bridge never ran and nobody else was dialled.
        first_leg: dict[str, object] = {}
        if platform_call is not None:
            order_id, first, to = platform_call
            status = call.call_status
            kind = Line.Kind.joining(first, to or first.counterpart())
            line_id = Line.objects.filter(order_id=order_id, kind=kind).values_list("pk", flat=True).first()
            first_leg = {
                "order_id": order_id,
                "line_id": line_id,
                "caller_role": first.value,
                "initiated_by": CallRecord.Initiator.PLATFORM.value,
                "outcome": Outcome.NOT_ANSWERED.value,
                "dial_status": status if status in MISSED_DIAL_STATUSES else "failed",
            }
        first_hangup = records.record_hangup(call, on_insert=first_leg, **fields)
        record = _record_by_uuid(call.call_uuid)
        if record is not None and record.outcome == Outcome.NOT_ANSWERED:
            _call_event(record, EventType.CALL_MISSED, reason=f"first_party_{record.dial_status}")
        else:
            _call_event(record, EventType.CALL_COMPLETED, when=lambda record: record.dial_status == "completed")
        if first_hangup and record is not None:
            _apply_call_limit(record)
            # After the commit: a rolled-back hangup was no hangup.
            transaction.on_commit(metrics.CALLS.labels(result=record.result.value).inc)
    return xml.empty()


def _platform_call(platform: PlatformCall | None) -> tuple[int, Role, Role | None] | None:
    """The (order id, first party, other party) a click-to-call's hangup URL names, when that order still exists."""
    if platform is None or platform.order_id is None or platform.first is None:
        return None
    if not Order.objects.filter(pk=platform.order_id).exists():
        return None
    return platform.order_id, platform.first, platform.to


def _apply_call_limit(record: CallRecord) -> None:
    """Once per call that reached an order: count a call put through, or report a call the limit turned away."""
    if record.line is None or record.caller_role not in (Role.CUSTOMER, Role.AGENT, Role.STORE):
        return
    if record.initiated_by == CallRecord.Initiator.PLATFORM:
        return  # click-to-call has its own limit (MASKING_CLICK_TO_CALL_PER_MINUTE); the party did not dial
    role = Role(record.caller_role)
    if record.outcome == Outcome.CONNECTED:
        services.count_call(record.line_id, role)
    elif record.outcome == Outcome.LIMITED:
        window_start = getattr(record.line, f"{role.value}_calls_since")
        # Once per party and window, however many calls the limit turns away in it.
        window = window_start.isoformat() if window_start else record.call_uuid
        _call_event(
            record,
            EventType.CALL_LIMIT_REACHED,
            dedupe_key=f"{EventType.CALL_LIMIT_REACHED.value}:{record.line_id}:{role.value}:{window}",
            limit=call_limit(),
        )


def _record_by_uuid(call_uuid: str) -> CallRecord | None:
    if not call_uuid:
        return None
    return (
        CallRecord.objects.select_related("order", "line__order", "line__proxy_number")
        .filter(call_uuid=call_uuid)
        .first()
    )


def _call_event(
    record: CallRecord | None,
    event_type: EventType,
    *,
    when: Callable[[CallRecord], bool] | None = None,
    dedupe_key: str | None = None,
    **data: object,
) -> None:
    """Raise ``event_type`` about the call, once per call (callbacks are retried), if ``when`` its record allows."""
    if record is None or (when is not None and not when(record)):
        return
    role = Role(record.caller_role)
    if record.line is not None:
        # The line's own proxy number, never the request's To or From: a
        # callback's fields are whatever the sender put there.
        about = line_data(record.line)
        callee = Line.Kind(record.line.kind).other(role)
    elif record.order is not None:
        about, callee = {**order_data(record.order), "parties": []}, role.counterpart()
    else:
        about, callee = {"reference": None, "proxy_number": None, "parties": []}, role.counterpart()
    payload = {
        **about,
        "call_uuid": record.call_uuid,
        "caller_role": role.value,
        "callee_role": callee.value,
        "initiated_by": record.initiated_by,
        **data,
    }
    if event_type in (EventType.CALL_COMPLETED, EventType.CALL_MISSED):
        # The call's result in the one vocabulary of the call records, the API and the metrics.
        payload["result"] = record.result.value
    if event_type == EventType.CALL_COMPLETED:
        payload["duration"] = record.duration
    # Both call events share the key: a call ends once, completed or missed.
    emit(event_type, payload, dedupe_key=dedupe_key or f"call:{record.call_uuid}")
