"""Plivo XML answers, built with the SDK's element classes.

No spoken text here contains a phone number; numbers sent to Plivo are
digits without ``+``, Plivo's own format.
"""

import re
from functools import lru_cache
from string import Template
from xml.sax.saxutils import escape

from django.conf import settings
from django.urls import get_script_prefix, reverse
from plivo import plivoxml

from orders.models import Role
from orders.phones import display, to_e164

from .params import plivo_digits

# Every spoken text is a setting (MASKING_*_MESSAGE, _PROMPT, ...); this
# one starts the SMS relay's own request for an order code.
SEVERAL_DELIVERIES = "You have more than one delivery on this number."

# Characters XML 1.0 cannot carry; a text message may hold them, lxml refuses them.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Only what a Plivo CallUUID holds: it goes into callback URLs as it is.
_PLAIN_UUID = re.compile(r"[A-Za-z0-9-]{1,64}")

# Wrong codes accepted before the call is ended; Plivo's own GetDigits
# ``retries`` only covers silence.
PIN_ATTEMPTS = 3


def webhook_url(name: str, **query: object) -> str:
    """Absolute URL Plivo should call next: the same base signatures are checked against."""
    url = settings.PUBLIC_BASE_URL + _path(name, settings.ROOT_URLCONF, get_script_prefix())
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return url


# reverse() cost more than building the rest of an answer; keyed on everything
# it reads, so a test's or a deployment's other urlconf or prefix gets its own.
@lru_cache(maxsize=64)
def _path(name: str, urlconf: str, script_prefix: str) -> str:
    return reverse(name, urlconf=urlconf)


def _render(*elements: plivoxml.PlivoXMLElement) -> str:
    response = plivoxml.ResponseElement()
    for element in elements:
        response.add(element)
    return response.to_string(pretty=False)


def _attributes(**attributes: object) -> str:
    """XML attributes as plivoxml names them (snake_case in, camelCase out), ``None`` left out."""
    return "".join(f' {_camel(name)}="{_escape(value)}"' for name, value in attributes.items() if value is not None)


def _escape(value: object) -> str:
    return escape(str(value), {chr(34): "&quot;"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _digits(e164: str) -> str:
    """Plivo's form of an E.164 number, refusing anything that is not ASCII digits: it goes into XML unescaped."""
    digits = plivo_digits(e164)
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError("not an E.164 number")
    return digits


def _fixed(text: str) -> str:
    """Text that goes into a Template as it is: its own ``$`` kept."""
    return text.replace("$", "$$")


# Every connected call answers a Dial: building it with plivoxml each time cost
# more than the rest of the view's Python (bench/PROFILE.md). So the whole
# answer is one template per settings values (and per kind of Dial: with the
# whisper, with the recording), everything in it escaped once; per call only
# named slots are filled, each with a checked value that needs no escaping:
# ASCII digits, an int, a fixed role name, a plain CallUUID, or a Speak
# element plivoxml built. tests/voice/test_xml.py compares it with plivoxml's output.
@lru_cache(maxsize=64)
def _dial_template(dial: tuple, confirm: tuple | None, record: tuple | None) -> Template:
    timeout, time_limit, action = dial
    attributes = _fixed(_attributes(action=action, method="POST", time_limit=time_limit, timeout=timeout))
    if confirm is not None:
        whisper_url, key, confirm_timeout = confirm
        attributes += (
            f' confirmSound="{_fixed(_escape(whisper_url))}?order=$order_id&amp;callee=$callee&amp;caller=$caller"'
        )
        attributes += _fixed(_attributes(confirm_key=key or None, confirm_timeout=confirm_timeout if key else None))
    recording = ""
    if record is not None:
        notice, voice, language, callback_url, max_length = record
        speak = f"<Speak{_attributes(voice=voice, language=language)}>{escape(notice)}</Speak>"
        element = _attributes(
            start_on_dial_answer="true",
            redirect="false",
            file_format="mp3",
            # Record's own default is 60 s; the conversation may last the whole call.
            max_length=max_length,
            callback_method="POST",
        )
        recording = _fixed(f'{speak}<Record{element} callbackUrl="{_escape(callback_url)}') + '$call_query"/>'
    return Template(
        f"<Response>$greeting{recording}<Dial{attributes}$caller_id><Number>$number</Number></Dial></Response>"
    )


def dial(
    number: str,
    *,
    caller_id: str | None,
    order_id: int | None = None,
    callee: Role | None = None,
    caller: Role | None = None,
    call_uuid: str = "",
    greeting: str = "",
) -> str:
    """Connect the caller to ``number`` (E.164), showing the proxy number ``caller_id``.

    ``greeting`` is spoken to the caller first (click-to-call's bridge).

    With the order and the callee's role, the callee first hears the whisper
    (naming ``caller``, by default the callee's counterpart on the customer–agent line)
    (and presses the accept key) from ``/voice/whisper/``; with
    MASKING_RECORD_CALLS the caller hears the notice and the conversation is
    recorded, its file posted to ``/voice/recording/?call=<call_uuid>``.
    """
    about_order = order_id is not None and callee is not None
    confirm = record = None
    if about_order and (settings.MASKING_WHISPER or settings.MASKING_ACCEPT_KEY or settings.MASKING_RECORD_CALLS):
        confirm = (webhook_url("voice:whisper"), settings.MASKING_ACCEPT_KEY, settings.MASKING_ACCEPT_TIMEOUT)
    if about_order and settings.MASKING_RECORD_CALLS:
        notice = settings.MASKING_RECORDING_NOTICE
        record = (notice, *_voice(), webhook_url("voice:recording"), settings.MASKING_CALL_TIME_LIMIT)
    template = _dial_template(
        (settings.MASKING_RING_TIMEOUT, settings.MASKING_CALL_TIME_LIMIT, webhook_url("voice:dial_status")),
        confirm,
        record,
    )
    return template.substitute(
        greeting=_speak(greeting).to_string(pretty=False) if greeting else "",
        caller_id=f' callerId="{_digits(caller_id)}"' if caller_id else "",
        # int() and the fixed role names: nothing unescaped comes from outside.
        order_id=f"{int(order_id):d}" if about_order else "",
        callee=_CALLEE_QUERY[callee] if about_order else "",
        caller=_CALLEE_QUERY.get(caller or callee.counterpart(), "") if about_order else "",
        call_query=f"?call={call_uuid}" if _PLAIN_UUID.fullmatch(call_uuid) else "",
        number=_digits(number),
    )


def bridge_text(reference: str, callee: Role) -> str:
    """What the party rung first by click-to-call hears before the other party is dialled."""
    return _fill(settings.MASKING_BRIDGE_TEXT, "callee", callee, reference=spell(reference))


_CALLEE_QUERY = {Role.CUSTOMER: "customer", Role.AGENT: "agent", Role.STORE: "store"}


# How the other party hears a caller named, by the caller's role.
CALLER_WORDS = {Role.CUSTOMER: "your customer", Role.AGENT: "your delivery agent", Role.STORE: "the store"}
# The whisper URL names the callee and the caller (before lines had kinds: the callee only).
_KEY_WORDS = {"#": "the hash key", "*": "the star key"}


def spell(reference: str) -> str:
    """An order reference as text-to-speech should read it: one character at a time ("K7X4" -> "K 7 X 4")."""
    return " ".join(character for character in reference if character.isalnum())


def _speak(text: str) -> plivoxml.SpeakElement:
    voice, language = _voice()
    return plivoxml.SpeakElement(text, voice=voice, language=language)


def whisper_texts(reference: str | None, callee: str | None, caller: str | None = None) -> list[str]:
    """What the callee hears before being connected; the order's part only when the order is known.

    Without ``caller`` (a URL from before lines had kinds) the caller is the callee's counterpart.
    """
    texts = []
    known = set(_CALLEE_QUERY.values())
    who = Role(caller) if caller in known else Role(callee).counterpart() if callee in known else Role.UNKNOWN
    if settings.MASKING_WHISPER and reference and who in CALLER_WORDS:
        texts.append(_fill(settings.MASKING_WHISPER_TEXT, "caller", who, reference=spell(reference)))
    if settings.MASKING_RECORD_CALLS:
        texts.append(settings.MASKING_RECORDING_NOTICE)
    key = settings.MASKING_ACCEPT_KEY
    if key:
        texts.append(settings.MASKING_ACCEPT_PROMPT.format(key=_KEY_WORDS.get(key, key)))
    return texts


def _role_word(role: Role) -> str:
    # The texts say "your {caller}": the setting holds the "your".
    return CALLER_WORDS[role].removeprefix("your ").removeprefix("the ")


def _fill(template: str, slot: str, role: Role, **values: str) -> str:
    """A text setting with ``slot`` naming ``role``: the store is "the store", not "your store"."""
    if role == Role.STORE:
        template = template.replace(f"your {{{slot}}}", f"the {{{slot}}}")
    return template.format(**{slot: _role_word(role)}, **values)


def whisper(reference: str | None, callee: str | None, caller: str | None = None) -> str:
    """The confirmSound answer: Speak elements only, the one element Plivo plays there besides Play and Wait."""
    return _render(*(_speak(text) for text in whisper_texts(reference, callee, caller)))


def whisper_without_order() -> str:
    """The whisper when the order cannot be read: at least the callee learns which key connects the call."""
    return whisper(None, None)


def ask_pin(*, attempt: int = 1) -> str:
    prompt = settings.MASKING_PIN_PROMPT if attempt == 1 else settings.MASKING_PIN_RETRY
    return _ask_pin(
        webhook_url("voice:pin", attempt=attempt),
        settings.MASKING_PIN_LENGTH,
        prompt,
        settings.MASKING_NO_INPUT_GOODBYE,
        *_voice(),
    )


def _voice() -> tuple[str, str]:
    return settings.MASKING_SPEAK_VOICE, settings.MASKING_SPEAK_LANGUAGE


# Nothing in a PIN prompt depends on the call: one build per attempt and settings values.
@lru_cache(maxsize=32)
def _ask_pin(action: str, num_digits: int, prompt: str, goodbye: str, voice: str, language: str) -> str:
    digits = plivoxml.GetDigitsElement(
        action=action,
        method="POST",
        num_digits=num_digits,
        retries=2,
        log=False,
    )
    digits.add(plivoxml.SpeakElement(prompt, voice=voice, language=language))
    return _render(digits, plivoxml.SpeakElement(goodbye, voice=voice, language=language), plivoxml.HangupElement())


def say_and_hang_up(text: str) -> str:
    return _say_and_hang_up(text, *_voice())


# Unknown callers and goodbyes hear one of a few fixed texts (settings): the
# answer is a pure function of the text and the voice.
@lru_cache(maxsize=32)
def _say_and_hang_up(text: str, voice: str, language: str) -> str:
    return _render(plivoxml.SpeakElement(text, voice=voice, language=language), plivoxml.HangupElement())


def missed_call(
    *,
    call_uuid: str,
    reference: str | None,
    caller_role: Role,
    callee_number: str | None,
    proxy_number: str | None,
) -> str:
    """The Dial action's answer when the callee did not take the call (docs/plivo.md, question (a)).

    The callee gets a text from the proxy number, and the caller may leave a
    voicemail, when the call was about an order; otherwise, and with both
    off, the caller hears that the other party is not available.
    """
    about_order = bool(reference) and caller_role in CALLER_WORDS
    elements: list[plivoxml.PlivoXMLElement] = []
    if settings.MASKING_MISSED_CALL_SMS and about_order and callee_number and proxy_number:
        text = missed_call_text(reference or "", caller_role, proxy_number)
        # First: the text is sent even if the caller hangs up during the prompt.
        elements.append(
            plivoxml.MessageElement(
                _NOT_XML.sub("", text), src=_digits(proxy_number), dst=_digits(callee_number), type="sms"
            )
        )
    if settings.MASKING_VOICEMAIL and about_order and _PLAIN_UUID.fullmatch(call_uuid):
        url = webhook_url("voice:voicemail", call=call_uuid)
        # The action's answer (the thanks) continues the call; the callback is
        # Plivo's word that the file is ready, in case the caller hung up first.
        record = plivoxml.RecordElement(
            action=url,
            method="POST",
            callback_url=url,
            callback_method="POST",
            file_format="mp3",
            max_length=settings.MASKING_VOICEMAIL_MAX_SECONDS,
            finish_on_key="#",
            play_beep=True,
        )
        elements += [_speak(settings.MASKING_VOICEMAIL_PROMPT), record, plivoxml.HangupElement()]
    else:
        elements += [_speak(settings.MASKING_NOT_AVAILABLE_MESSAGE), plivoxml.HangupElement()]
    return _render(*elements)


def missed_call_text(reference: str, caller_role: Role, proxy_number: str) -> str:
    """The text the callee of a missed call gets; the proxy number is the only number in it."""
    return _fill(
        settings.MASKING_MISSED_CALL_SMS_TEXT,
        "caller",
        caller_role,
        reference=reference,
        proxy_number=display(proxy_number),
    )


def voicemail_thanks() -> str:
    return say_and_hang_up(settings.MASKING_VOICEMAIL_THANKS)


def hang_up() -> str:
    return _render(plivoxml.HangupElement())


def empty() -> str:
    return _render()


def _support_or(proxy_number: str | None, message: str) -> str:
    """Put the caller through to MASKING_SUPPORT_NUMBER when there is one, else speak ``message`` and hang up."""
    support = to_e164(settings.MASKING_SUPPORT_NUMBER)
    if support:
        return dial(support, caller_id=proxy_number)
    return say_and_hang_up(message)


def unknown_caller(proxy_number: str | None) -> str:
    """Unknown callers reach support when there is one, else a message."""
    return _support_or(proxy_number, settings.MASKING_UNKNOWN_CALLER_MESSAGE)


def blocked_caller() -> str:
    """A blocked number hears what a stranger hears, and is never put through, not even to support."""
    return say_and_hang_up(settings.MASKING_UNKNOWN_CALLER_MESSAGE)


def call_limit_reached() -> str:
    return say_and_hang_up(settings.MASKING_CALL_LIMIT_MESSAGE)


def party_unavailable(proxy_number: str | None) -> str:
    """The order's agent was deactivated: support when there is one, else "not available"."""
    return _support_or(proxy_number, settings.MASKING_NOT_AVAILABLE_MESSAGE)


def sms(text: str, *, src: str, dst: str) -> str:
    """Send ``text`` as an SMS from the proxy number ``src`` to ``dst`` (both E.164)."""
    element = plivoxml.MessageElement(_NOT_XML.sub("", text), src=plivo_digits(src), dst=plivo_digits(dst), type="sms")
    return _render(element)


def apology() -> str:
    return say_and_hang_up(settings.MASKING_APOLOGY_MESSAGE)
