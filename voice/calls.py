"""What each webhook does with a call, and what the call log records.

The views, the admin's call simulator and ``simulate_call`` share
``route_answer``/``route_pin`` and ``xml_for``, so the simulator shows exactly
what Plivo would get; only the webhooks write call records.
"""

import logging
from collections.abc import Mapping

from django.db import connection
from django.utils import timezone

from orders.phones import redact, to_e164
from orders.routing import Action, Route, resolve, resolve_pin

from . import xml
from .models import CallRecord

logger = logging.getLogger(__name__)

Outcome = CallRecord.Outcome

# The answer's insert, written out: the ORM's bulk_create cost more Python
# than the database work itself on every call (see bench/RESULTS.md). ON
# CONFLICT DO NOTHING: a retried answer keeps the first row.
_INSERT_CALL_RECORD = f"""
INSERT INTO {CallRecord._meta.db_table}
    (call_uuid, order_id, caller_role, from_number, proxy_number, dialled_number, outcome,
     dial_status, hangup_cause, started_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, '', '', %s)
ON CONFLICT (call_uuid) DO NOTHING
"""  # noqa: S608 - table name from the model, values as parameters

# Call records are a log, not money or routing state: a Postgres crash may lose
# the last fraction of a second of them (never corrupt them) and the call still
# connects, so the answer does not wait for the WAL flush. Sent in the same
# statement string as the INSERT, it stays one round trip and applies only to
# that statement's implicit transaction: orders keep durable commits. (Two
# statements in one execute need client-side binding: psycopg2, or psycopg 3
# with Django's default cursor.) See README.md, "Call records and synchronous_commit".
ASYNC_COMMIT_PREFIX = "SET LOCAL synchronous_commit TO OFF; "


def _record_answer(call_uuid: str, route: Route, outcome: str, params: Mapping[str, str]) -> None:
    prefix = ASYNC_COMMIT_PREFIX if connection.vendor == "postgresql" else ""
    values = [
        call_uuid,  # already shortened by answer()
        route.order_id,
        route.role,
        route.caller or clip(params.get("From"), 64),
        route.proxy_number or clip(params.get("To"), 64),
        route.connect_to or "",
        outcome,
        connection.ops.adapt_datetimefield_value(timezone.now()),
    ]
    with connection.cursor() as cursor:
        cursor.execute(prefix + _INSERT_CALL_RECORD, values)


def xml_for(route: Route, *, attempt: int = 1) -> str:
    if route.action == Action.CONNECT:
        return xml.dial(route.connect_to, caller_id=route.proxy_number)
    if route.action == Action.ASK_PIN:
        return xml.ask_pin(attempt=attempt)
    return xml.unknown_caller(route.proxy_number)


def clip(value: object, length: int) -> str:
    """A webhook field made fit for a CharField of ``length``.

    Postgres text cannot hold NUL; a field with one would turn a routable
    call or text into an error."""
    return str(value or "").replace("\x00", "")[:length]


def answer(params: Mapping[str, str]) -> str:
    """Answer webhook: route the call, log it once per CallUUID, return XML."""
    route = resolve(params.get("From", ""), params.get("To", ""))
    outcome = {Action.CONNECT: Outcome.CONNECTED, Action.ASK_PIN: Outcome.PIN_PROMPTED}.get(
        route.action, Outcome.UNKNOWN
    )
    # DEBUG, not INFO: the call record written below is the per-call log (the
    # admin shows it), and formatting and writing this line cost about 15 us,
    # 3 % of an answer's Python. LOG_LEVEL=DEBUG brings it back.
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("call from %s to %s: %s", redact(route.caller), redact(route.proxy_number), route.action)
    call_uuid = clip(params.get("CallUUID"), 64)
    if call_uuid:
        _record_answer(call_uuid, route, outcome, params)
    return xml_for(route)


def pin_xml(route: Route, attempt: int) -> str:
    if route.action == Action.CONNECT:
        return xml_for(route)
    if attempt < xml.PIN_ATTEMPTS:
        return xml.ask_pin(attempt=attempt + 1)
    return xml.say_and_hang_up(xml.PIN_GOODBYE)


def simulate(caller: str, proxy_number: str, digits: str = "") -> str:
    """The XML the answer webhook (or, with digits, the PIN webhook) would return."""
    if digits:
        return pin_xml(resolve_pin(caller, proxy_number, digits), attempt=1)
    return xml_for(resolve(caller, proxy_number))


def pin(params: Mapping[str, str], attempt: int) -> str:
    """GetDigits action: connect on a right PIN, re-prompt, or give up."""
    route = resolve_pin(params.get("From", ""), params.get("To", ""), params.get("Digits", ""))
    call_uuid = params.get("CallUUID", "")
    if route.action == Action.CONNECT:
        _update(
            call_uuid,
            params,
            order_id=route.order_id,
            caller_role=route.role,
            dialled_number=route.connect_to,
            outcome=Outcome.CONNECTED,
        )
    elif attempt >= xml.PIN_ATTEMPTS:
        logger.info("call %s rejected after %d wrong PINs", call_uuid, attempt)
        _update(call_uuid, params, outcome=Outcome.REJECTED)
    return pin_xml(route, attempt)


def dial_status(params: Mapping[str, str]) -> str:
    status = clip(params.get("DialStatus"), 32)
    _update(params.get("CallUUID", ""), params, dial_status=status)
    if status == "completed":
        return xml.hang_up()
    return xml.say_and_hang_up(xml.NOT_AVAILABLE)


def hangup(params: Mapping[str, str]) -> str:
    _update(
        params.get("CallUUID", ""),
        params,
        hangup_cause=clip(params.get("HangupCauseName") or params.get("HangupCause"), 64),
        duration=_seconds(params.get("Duration")),
        bill_duration=_seconds(params.get("BillDuration")),
        ended_at=timezone.now(),
    )
    return xml.empty()


def _seconds(value: object) -> int | None:
    try:
        seconds = int(str(value))
    except ValueError:
        return None
    return seconds if 0 <= seconds < 2**31 else None


def _update(call_uuid: str, params: Mapping[str, str], **fields: object) -> None:
    """Complete the call's record, creating it if this callback came first."""
    call_uuid = clip(call_uuid, 64)
    if not call_uuid:
        return
    CallRecord.objects.update_or_create(
        call_uuid=call_uuid,
        defaults=fields,
        create_defaults={
            "from_number": to_e164(params.get("From", "")) or clip(params.get("From"), 64),
            "proxy_number": to_e164(params.get("To", "")) or clip(params.get("To"), 64),
            **fields,
        },
    )
