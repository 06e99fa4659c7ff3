"""Plivo's form, read once at the edge into typed values.

Every field name Plivo sends is read here and nowhere else. Numbers come out
in E.164 (or None when a field holds no phone number: a SIP URI, garbage),
UUIDs and texts clipped to what their columns hold and free of NUL, counts as
ints that fit a database integer. The rest of voice takes these values; the
views parse, the worker parses again what it replays (voice.tasks), and the
field names are in docs/plivo.md, "Webhook parameters".
"""

from collections.abc import Mapping
from dataclasses import dataclass

from orders.models import Role
from orders.phones import to_e164

from .media import recording_url

UUID_LENGTH = 64
NUMBER_TEXT_LENGTH = 64

# Where Plivo may name a Dial's hangup cause, and its name and code for a refused confirm key (Hangup
# Causes page: 9110 "Confirm Key Challenge Failed"): the callee answered but did not press the accept key.
CONFIRM_CAUSE_FIELDS = (
    "DialHangupCause",
    "DialHangupCauseName",
    "DialHangupCauseCode",
    "DialBLegHangupCauseName",
    "DialBLegHangupCauseCode",
)
CONFIRM_REFUSED_CAUSES = frozenset({"9110", "confirm key challenge failed"})

# The parties a URL of ours may name (click-to-call's first party, the whisper's callee).
_PARTIES = {Role.AGENT.value: Role.AGENT, Role.CUSTOMER.value: Role.CUSTOMER, Role.STORE.value: Role.STORE}


def plivo_digits(e164: str) -> str:
    """Plivo's own format for numbers we send it: digits, no ``+``."""
    return e164.lstrip("+")


def clip(value: object, length: int) -> str:
    """A field made fit for a column of ``length``: Postgres text cannot hold NUL, which would make a call fail."""
    return str(value or "").replace("\x00", "")[:length]


def whole_number(value: object) -> int | None:
    """A count (seconds, an id) that fits a database integer, or None."""
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if 0 <= number < 2**31 else None


def _party(value: object) -> Role | None:
    return _PARTIES.get(str(value or ""))


@dataclass(frozen=True)
class Number:
    """A number field: E.164 where it parses (``e164``), and what a record keeps (``text``: E.164, else as sent)."""

    e164: str | None
    text: str

    @classmethod
    def read(cls, value: object) -> "Number":
        e164 = to_e164(value) if isinstance(value, str) else None
        return cls(e164, e164 or clip(value, NUMBER_TEXT_LENGTH))


@dataclass(frozen=True)
class Call:
    """What every call webhook gets: the call, who calls, and through which proxy number.

    A call Plivo placed for click-to-call (Direction=outbound) goes from the
    proxy number to the party it rang first, who is then the caller.
    """

    call_uuid: str
    caller: Number
    proxy_number: Number
    call_status: str = ""

    @classmethod
    def read(cls, form: Mapping[str, str]) -> "Call":
        caller, proxy_number = form.get("From", ""), form.get("To", "")
        if form.get("Direction") == "outbound":
            caller, proxy_number = proxy_number, caller
        return cls(
            call_uuid=clip(form.get("CallUUID"), UUID_LENGTH),
            caller=Number.read(caller),
            proxy_number=Number.read(proxy_number),
            call_status=clip(form.get("CallStatus"), 32),
        )


@dataclass(frozen=True)
class Pin:
    """The GetDigits action: what the caller typed at the PIN prompt (digits only, else "")."""

    call: Call
    digits: str

    @classmethod
    def read(cls, form: Mapping[str, str]) -> "Pin":
        digits = clip(form.get("Digits"), 16)
        return cls(Call.read(form), digits if digits.isascii() and digits.isdigit() else "")


@dataclass(frozen=True)
class DialStatus:
    """The Dial action: what became of the dialled leg."""

    call: Call
    status: str
    # The callee answered but did not press the accept key (docs/plivo.md, question (a)).
    confirm_refused: bool

    @classmethod
    def read(cls, form: Mapping[str, str]) -> "DialStatus":
        causes = (clip(form.get(name), 64).strip().lower() for name in CONFIRM_CAUSE_FIELDS)
        return cls(
            Call.read(form),
            status=clip(form.get("DialStatus"), 32),
            confirm_refused=any(cause in CONFIRM_REFUSED_CAUSES for cause in causes),
        )


@dataclass(frozen=True)
class Hangup:
    """The hangup URL: the call ended; its cause and durations (seconds)."""

    call: Call
    cause: str
    duration: int | None
    bill_duration: int | None

    @classmethod
    def read(cls, form: Mapping[str, str]) -> "Hangup":
        return cls(
            Call.read(form),
            cause=clip(form.get("HangupCauseName") or form.get("HangupCause"), 64),
            duration=whole_number(form.get("Duration")),
            bill_duration=whole_number(form.get("BillDuration")),
        )


@dataclass(frozen=True)
class RecordingReady:
    """A Record action or callback: the recording's id, its URL (only a Plivo media URL, else "") and duration."""

    call_uuid: str  # the call it belongs to: our URL's ``call`` query, else the request's CallUUID
    recording_id: str
    url: str
    duration: int | None

    @classmethod
    def read(cls, query: Mapping[str, str], form: Mapping[str, str]) -> "RecordingReady":
        recording_id = clip(form.get("RecordingID"), UUID_LENGTH)
        return cls(
            call_uuid=clip(query.get("call") or form.get("CallUUID"), UUID_LENGTH),
            recording_id=recording_id,
            url=recording_url(form.get("RecordUrl"), recording_id=recording_id),
            duration=whole_number(form.get("RecordingDuration")),
        )


@dataclass(frozen=True)
class Message:
    """An incoming text: who sent it, to which proxy number, and the text itself (never stored)."""

    message_uuid: str
    sender: Number
    proxy_number: Number
    text: str

    @classmethod
    def read(cls, form: Mapping[str, str]) -> "Message":
        return cls(
            message_uuid=clip(form.get("MessageUUID"), UUID_LENGTH),
            sender=Number.read(form.get("From", "")),
            proxy_number=Number.read(form.get("To", "")),
            text=str(form.get("Text", "")),
        )


# What our own URLs carry in their query (voice/plivo/xml.py builds them): signed like the rest.


@dataclass(frozen=True)
class PlatformCall:
    """Click-to-call's bridge and hangup URLs: the order, the party Plivo rang first, and the one it then dials.

    ``to`` is None on URLs given to Plivo before lines had kinds: the first party's counterpart.
    """

    order_id: int | None
    first: Role | None
    to: Role | None = None

    @classmethod
    def read(cls, query: Mapping[str, str]) -> "PlatformCall":
        return cls(whole_number(query.get("order")), _party(query.get("first")), _party(query.get("to")))


@dataclass(frozen=True)
class Whisper:
    """The whisper URL (confirmSound): the order, the callee who hears it, and the caller it names."""

    order_id: int | None
    callee: Role | None
    caller: Role | None = None

    @classmethod
    def read(cls, query: Mapping[str, str]) -> "Whisper":
        return cls(whole_number(query.get("order")), _party(query.get("callee")), _party(query.get("caller")))


def attempt(query: Mapping[str, str]) -> int:
    """Which PIN prompt a GetDigits action answers (our URL's ``attempt``), 1 when absent or garbled."""
    number = whole_number(query.get("attempt"))
    return max(1, number) if number is not None else 1
