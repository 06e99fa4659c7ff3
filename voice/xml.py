"""Plivo XML answers, built with the SDK's element classes.

No spoken text here contains a phone number; numbers sent to Plivo are
digits without ``+``, Plivo's own format.
"""

import re

from django.conf import settings
from django.urls import reverse
from plivo import plivoxml

from orders.phones import plivo_digits, to_e164

NOT_AVAILABLE = "The person you are calling is not available right now. Please try again later. Goodbye."
APOLOGY = "Sorry, we cannot connect your call right now. Please try again in a few minutes. Goodbye."
PIN_PROMPT = "You have more than one delivery on this number. Please enter your order code."
PIN_RETRY = "That code was not recognised. Please enter your order code again."
PIN_GOODBYE = "Sorry, that code is not valid. Goodbye."
NO_INPUT_GOODBYE = "We did not receive a code. Goodbye."

# Characters XML 1.0 cannot carry; a text message may hold them, lxml refuses them.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Wrong codes accepted before the call is ended; Plivo's own GetDigits
# ``retries`` only covers silence.
PIN_ATTEMPTS = 3


def webhook_url(name: str, **query: object) -> str:
    """Absolute URL Plivo should call next: the same base signatures are checked against."""
    url = settings.PUBLIC_BASE_URL + reverse(name)
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return url


def _render(*elements: plivoxml.PlivoXMLElement) -> str:
    response = plivoxml.ResponseElement()
    for element in elements:
        response.add(element)
    return response.to_string(pretty=False)


def dial(number: str, *, caller_id: str | None) -> str:
    """Connect the caller to ``number`` (E.164), showing the proxy number."""
    element = plivoxml.DialElement(
        caller_id=plivo_digits(caller_id) if caller_id else None,
        timeout=settings.MASKING_RING_TIMEOUT,
        time_limit=settings.MASKING_CALL_TIME_LIMIT,
        action=webhook_url("voice:dial_status"),
        method="POST",
    )
    element.add(plivoxml.NumberElement(plivo_digits(number)))
    return _render(element)


def ask_pin(*, attempt: int = 1) -> str:
    prompt = PIN_PROMPT if attempt == 1 else PIN_RETRY
    digits = plivoxml.GetDigitsElement(
        action=webhook_url("voice:pin", attempt=attempt),
        method="POST",
        num_digits=settings.MASKING_PIN_LENGTH,
        retries=2,
        log=False,
    )
    digits.add(plivoxml.SpeakElement(prompt))
    return _render(digits, plivoxml.SpeakElement(NO_INPUT_GOODBYE), plivoxml.HangupElement())


def say_and_hang_up(text: str) -> str:
    return _render(plivoxml.SpeakElement(text), plivoxml.HangupElement())


def hang_up() -> str:
    return _render(plivoxml.HangupElement())


def empty() -> str:
    return _render()


def unknown_caller(proxy_number: str | None) -> str:
    """Unknown callers reach support when there is one, else a message."""
    support = to_e164(settings.MASKING_SUPPORT_NUMBER)
    if support:
        return dial(support, caller_id=proxy_number)
    return say_and_hang_up(settings.MASKING_UNKNOWN_CALLER_MESSAGE)


def sms(text: str, *, src: str, dst: str) -> str:
    """Send ``text`` as an SMS from the proxy number ``src`` to ``dst`` (both E.164)."""
    element = plivoxml.MessageElement(_NOT_XML.sub("", text), src=plivo_digits(src), dst=plivo_digits(dst), type="sms")
    return _render(element)


def apology() -> str:
    return say_and_hang_up(APOLOGY)
