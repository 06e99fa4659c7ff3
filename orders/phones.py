"""Phone numbers in the one form the service compares them in: E.164 with +."""

import re
from functools import lru_cache

import phonenumbers

# Only what people and Plivo write in a phone number; phonenumbers alone would
# happily dig a number out of "sip:14156667777@host".
_NUMBER_CHARS = re.compile(r"\+?[0-9 ()./-]+")


def to_e164(raw: object, region: str | None = None) -> str | None:
    """Parse a number from Plivo or a person; None when it is not a phone number.

    Plivo sends digits with the country code and no ``+`` ("14156667777"), some
    examples send "+1…", SIP legs send URIs. Bare digits are read as
    international unless a region is given for national input.
    """
    if not isinstance(raw, str):
        return None
    return _parse_e164(raw.strip(), region)


# Every answer parses the proxy number (one of a pool of a few hundred) and the
# caller; parsing is pure and cost more than the lookup's own Python side.
@lru_cache(maxsize=4096)
def _parse_e164(text: str, region: str | None) -> str | None:
    if len(text) > 32 or not _NUMBER_CHARS.fullmatch(text):
        return None
    if region is None and text.isdigit():
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def readable(e164: str) -> str:
    """A number as people write it in a text, groups separated by spaces: "+1 415 555 0100"."""
    number = phonenumbers.parse(e164)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL).replace("-", " ")


def plivo_digits(e164: str) -> str:
    """Plivo's own format for numbers we send it: digits, no ``+``."""
    return e164.lstrip("+")


def redact(number: object) -> str:
    """A number fit for a log line: country code and area kept, subscriber hidden."""
    text = str(number or "")
    if len(text) <= 8:
        return "***"
    # At least three digits stay hidden: short numbers (+500 12345) keep less
    # of their tail, or the two ends would spell the whole number.
    tail = min(4, len(text) - 8)
    return f"{text[:5]}***{text[-tail:]}"
