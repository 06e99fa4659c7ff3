"""Plivo played locally: one whole call against a running server over HTTP (``manage.py play_call``), or one
signed request (``manage.py send_webhook``), so that the flow can be tried without a Plivo account or a phone.

Every request is signed as Plivo signs it (V3, ``webhook.expected_signature``) for the URL it is sent to,
with PLIVO_AUTH_TOKEN, so the server runs its real signature check. The call follows the server's XML as
Plivo would; what the player assumes where Plivo's documentation is silent is listed in docs/plivo.md,
"Playing a call locally", and nothing here is evidence of what a real Plivo call does.
"""

import math
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests
from lxml import etree

from orders.phones import display, to_e164

from .webhook import NONCE_HEADER, SIGNATURE_HEADERS, expected_signature

# Returned by a step that ends the call (a Hangup, an action that answered no XML).
STOP = object()
# What the callee does when Plivo rings them (--answer, --no-answer, --busy), and the DialStatus each gives.
ANSWER, NO_ANSWER, BUSY = "completed", "no-answer", "busy"
DIAL_CAUSES = {ANSWER: "NORMAL_CLEARING", NO_ANSWER: "NO_ANSWER", BUSY: "USER_BUSY"}
# Seconds the callee's phone rings before they answer; a busy line does not ring.
RING_SECONDS = 5
# Text-to-speech reads about two and a half words a second.
WORDS_PER_SECOND = 2.5
# A played call is a handful of requests; more means the XML loops (a PIN asked again and again).
MAX_REQUESTS = 25
TIMEOUT = 15


@dataclass(frozen=True)
class Reply:
    method: str
    url: str
    status: int
    body: str


def signed_headers(method: str, url: str, form: dict[str, str], token: str) -> dict[str, str]:
    """Plivo's V3 headers for a request to ``url`` (for POST, ``form`` is the body)."""
    nonce = str(secrets.randbelow(10**20))
    params = {key: [value] for key, value in form.items()} if method == "POST" else {}
    signature = expected_signature(method, url, params, nonce, token).decode()
    return {SIGNATURE_HEADERS[0]: signature, NONCE_HEADER: nonce}


def send(method: str, url: str, form: dict[str, str], token: str) -> Reply:
    """Sign and send one request as Plivo would: form-encoded, redirects not followed."""
    if method == "GET" and form:
        url += ("&" if "?" in url else "?") + "&".join(f"{key}={value}" for key, value in form.items())
        form = {}
    headers = signed_headers(method, url, form, token)
    response = requests.request(method, url, data=form or None, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    return Reply(method, url, response.status_code, response.text)


def parse(body: str) -> etree._Element | None:
    """The XML of an answer, or None when it is not a Plivo ``<Response>``."""
    try:
        root = etree.fromstring(body.encode(), _PARSER)
    except etree.XMLSyntaxError:
        return None
    return root if root.tag == "Response" else None


# Whatever the server answers is read as data: no entities, no network.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)


def new_uuid() -> str:
    return str(uuid.uuid4())


def _shown(digits: str | None) -> str:
    return display(to_e164(digits) or digits or "")


def _clock(start: datetime, seconds: int) -> str:
    return (start + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Leg:
    """The call Plivo plays: its A leg (the party who hears the answer's XML) and the standard parameters."""

    caller: str  # digits, as Plivo sends them
    to: str
    direction: str = "inbound"
    caller_name: str = "caller"  # who the A leg is, in what is printed
    callee_name: str = "callee"
    call_uuid: str = field(default_factory=new_uuid)
    extra: dict[str, str] = field(default_factory=dict)

    def form(self, **fields: str) -> dict[str, str]:
        return {
            "CallUUID": self.call_uuid,
            "From": self.caller,
            "To": self.to,
            "Direction": self.direction,
            "CallStatus": "in-progress",
            **self.extra,
            **fields,
        }


class CallPlayer:
    """Plays one call: the answer URL's XML, every URL it leads to, then the hangup and the recordings' callbacks."""

    def __init__(
        self,
        *,
        token: str,
        write: Callable[[str], None],
        digits: list[str],
        dial: str = ANSWER,
        talk: int = 30,
        auth_id: str = "",
    ) -> None:
        self.token, self.write, self.digits, self.dial, self.talk = token, write, list(digits), dial, talk
        self.auth_id = auth_id or "MALOCALPLAYER"
        self.replies: list[Reply] = []
        self.seconds = 0
        self.talked: int | None = None
        self.dial_status = ""
        self.voicemail: int | None = None
        self.callbacks: list[tuple[str, dict[str, str]]] = []
        self.record_on_answer: str | None = None
        self.leg: Leg

    # Requests

    def request(self, method: str, url: str, form: dict[str, str], note: str = "") -> Reply | None:
        if len(self.replies) >= MAX_REQUESTS:
            self.write(f"Stopped after {MAX_REQUESTS} requests: the XML keeps leading to more.")
            return None
        reply = send(method, url, form, self.token)
        self.replies.append(reply)
        self.write(f"{method} {url}{f' ({note})' if note else ''} -> {reply.status}")
        if reply.status != 200:
            self.write(f"  the server answered: {reply.body.strip()[:300]}")
        return reply

    def hears(self, who: str, what: str) -> None:
        self.write(f"  {who} hears: {what}")

    def says(self, text: str) -> None:
        self.write(f"  {text}")

    # The call

    def play(self, leg: Leg, answer_url: str, hangup_url: str, fallback_url: str = "") -> None:
        self.leg = leg
        self.started = datetime.now(UTC).replace(microsecond=0)
        reply = self.request("POST", answer_url, leg.form(CallStatus="ringing", Event="StartApp"))
        root = parse(reply.body) if reply and reply.status == 200 else None
        if root is None and fallback_url and reply is not None:
            # Plivo's rule when the answer URL fails or its XML is not valid: the fallback answer URL.
            self.says("Plivo fetches the fallback answer URL.")
            reply = self.request("POST", fallback_url, leg.form(CallStatus="ringing", Event="StartApp"))
            root = parse(reply.body) if reply and reply.status == 200 else None
        if root is not None:
            self.follow(root)
        else:
            self.says("Plivo ends the call: no XML to play.")
        self.hang_up(hangup_url)

    def follow(self, root: etree._Element) -> None:
        """Plays ``root`` and whatever XML its actions answer, until a Hangup or the end of a document."""
        document: etree._Element | None = root
        while document is not None:
            for element in document:
                handler = getattr(self, f"_{element.tag.lower()}", None)
                if handler is None:
                    self.says(f"(the player does not play <{element.tag}>; skipped)")
                    continue
                step = handler(element)
                if step is STOP:
                    return
                if step is not None:
                    document = step  # Plivo continues with the action's XML
                    break
            else:
                self.says("End of the XML: Plivo hangs up.")
                return

    def _next(self, method: str, url: str, form: dict[str, str], note: str = "") -> "etree._Element | object":
        reply = self.request(method, url, form, note)
        root = parse(reply.body) if reply and reply.status == 200 else None
        if root is None:
            self.says("No XML came back: Plivo hangs up.")
            return STOP
        return root

    def _speak(self, element: etree._Element, who: str | None = None) -> None:
        text = " ".join((element.text or "").split())
        self.seconds += math.ceil(len(text.split()) / WORDS_PER_SECOND)
        self.hears(who or self.leg.caller_name, f"“{text}”")

    def _play(self, element: etree._Element, who: str | None = None) -> None:
        self.hears(who or self.leg.caller_name, f"a sound file ({(element.text or '').strip()})")

    def _wait(self, element: etree._Element, who: str | None = None) -> None:
        length = int(element.get("length") or 1)
        self.seconds += length
        self.hears(who or self.leg.caller_name, f"{length} s of silence")

    def _message(self, element: etree._Element) -> None:
        text = " ".join((element.text or "").split())
        self.says(f"Plivo sends a text from {_shown(element.get('src'))} to {_shown(element.get('dst'))}: “{text}”")

    def _hangup(self, element: etree._Element) -> object:
        self.says("Plivo hangs up.")
        return STOP

    def _redirect(self, element: etree._Element) -> object:
        return self._next(element.get("method") or "POST", (element.text or "").strip(), self.leg.form())

    def _getdigits(self, element: etree._Element) -> object:
        for child in element:
            if child.tag in ("Speak", "Play", "Wait"):
                getattr(self, f"_{child.tag.lower()}")(child)
        if not self.digits:
            tries = int(element.get("retries") or 1)
            self.seconds += int(element.get("timeout") or 5) * tries
            self.says(
                f"The {self.leg.caller_name} presses nothing ({tries} tries): Plivo goes on with the next element."
            )
            return None
        digits = self.digits.pop(0)
        self.says(f"The {self.leg.caller_name} types {digits}.")
        return self._next(element.get("method") or "POST", element.get("action") or "", self.leg.form(Digits=digits))

    def _record(self, element: etree._Element) -> object:
        if element.get("startOnDialAnswer") == "true":
            self.record_on_answer = element.get("callbackUrl") or ""
            self.says("Plivo will record the conversation once the callee answers.")
            return None
        length = max(1, min(self.talk, int(element.get("maxLength") or 60)))
        if element.get("playBeep", "true") == "true":
            self.hears(self.leg.caller_name, "a beep")
        key = (element.get("finishOnKey") or "")[:1]
        self.says(
            f"The {self.leg.caller_name} leaves a message of {length} s" + (f", then presses {key}." if key else ".")
        )
        self.voicemail = length
        fields = self._recording(length)
        self.seconds += length
        if element.get("callbackUrl"):
            self.callbacks.append((element.get("callbackUrl") or "", self.leg.form(**fields)))
        action = element.get("action")
        if not action:
            return None
        step = self._next(element.get("method") or "POST", action, self.leg.form(**fields, Digits=key), "recording")
        return None if element.get("redirect") == "false" and step is not STOP else step

    def _recording(self, length: int) -> dict[str, str]:
        recording_id = str(uuid.uuid4())
        start_ms = int((self.started + timedelta(seconds=self.seconds)).timestamp() * 1000)
        return {
            "RecordUrl": f"https://media.plivo.com/v1/Account/{self.auth_id}/Recording/{recording_id}.mp3",
            "RecordingID": recording_id,
            "RecordingDuration": str(length),
            "RecordingDurationMs": str(length * 1000),
            "RecordingStartMs": str(start_ms),
            "RecordingEndMs": str(start_ms + length * 1000),
        }

    def _dial(self, element: etree._Element) -> object:
        number = element.find("Number")
        callee = (number.text or "").strip() if number is not None else ""
        self.says(f"Plivo rings {_shown(callee)}, showing {_shown(element.get('callerId') or self.leg.to)}.")
        b_leg = new_uuid()
        self.dial_status = self.dial
        if self.dial != BUSY:
            self.hears(self.leg.caller_name, "ringing")
        if self.dial == ANSWER:
            self.seconds += RING_SECONDS
            self._answered(element, callee, b_leg)
        elif self.dial == NO_ANSWER:
            self.seconds += int(element.get("timeout") or 30)
            self.says(f"The {self.leg.callee_name} does not answer.")
        else:
            self.says(f"The {self.leg.callee_name}'s line is busy.")
        action = element.get("action")
        if not action:
            return None
        fields = {
            "DialStatus": self.dial,
            "DialRingStatus": "true" if self.dial != BUSY else "false",
            "DialHangupCause": DIAL_CAUSES[self.dial],
            "DialALegUUID": self.leg.call_uuid,
            "DialBLegUUID": b_leg if self.dial == ANSWER else "",
        }
        return self._next(element.get("method") or "POST", action, self.leg.form(**fields), f"DialStatus={self.dial}")

    def _answered(self, element: etree._Element, callee: str, b_leg: str) -> None:
        who = self.leg.callee_name
        self.says(f"The {who} answers.")
        sound = element.get("confirmSound")
        if sound:
            # The callee's leg: Plivo placed it, from the caller ID to the number dialled.
            form = {"CallUUID": b_leg, "From": element.get("callerId") or self.leg.to, "To": callee}
            reply = self.request("POST", sound, {**form, "Direction": "outbound", "CallStatus": "in-progress"})
            root = parse(reply.body) if reply and reply.status == 200 else None
            for child in root if root is not None else ():
                if child.tag in ("Speak", "Play", "Wait"):
                    getattr(self, f"_{child.tag.lower()}")(child, who=who)
        key = element.get("confirmKey")
        if key:
            self.says(f"The {who} presses {key}.")
        self.says(f"Connected: they talk for {self.talk} s.")
        if self.record_on_answer is not None:
            self.callbacks.append((self.record_on_answer, self.leg.form(**self._recording(self.talk))))
        self.talked = self.talk
        self.seconds += self.talk

    def hang_up(self, hangup_url: str) -> None:
        """The hangup URL, with the durations, then the recordings' callbacks (their files are ready after it)."""
        ended = self.seconds
        fields = {
            "CallStatus": "completed",
            "Duration": str(ended),
            # Billed by the started minute (docs/plivo.md, "Playing a call locally").
            "BillDuration": str(math.ceil(ended / 60) * 60),
            "HangupCause": "NORMAL_CLEARING",
            "HangupCauseName": "Normal Hangup",
            "HangupCauseCode": "4000",
            "HangupSource": "Plivo",
            "StartTime": _clock(self.started, 0),
            "AnswerTime": _clock(self.started, 0),
            "EndTime": _clock(self.started, ended),
        }
        self.request(
            "POST", hangup_url, self.leg.form(**fields), f"Duration={ended}, BillDuration={fields['BillDuration']}"
        )
        for url, form in self.callbacks:
            self.request("POST", url, form, "recording ready")

    def summary(self) -> str:
        failed = [reply for reply in self.replies if reply.status != 200]
        if self.talked is not None:
            how = f"talked {self.talked} s"
        elif self.dial_status:
            how = f"missed ({self.dial_status})" + (f", voicemail of {self.voicemail} s" if self.voicemail else "")
        else:
            how = "not put through"
        answered = f"{len(self.replies) - len(failed)} of {len(self.replies)} requests answered 200"
        return f"Call {self.leg.call_uuid} ended after {self.seconds} s: {how}; {answered}."


def url_of(server: str, path: str) -> str:
    """``path`` on ``server`` (a scheme and host), as Plivo would be told to call it."""
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{server!r} is not a server address such as http://localhost:8000.")
    return f"{parts.scheme}://{parts.netloc}{path}"
