"""Phone numbers in the one form the service compares them in: E.164 with +."""

import re
from collections.abc import Collection
from functools import lru_cache

import phonenumbers

from numbermasking.logsafe import hide_numbers

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
    number = _parse(text, region)
    return None if number is None else phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    if len(text) > 32 or not _NUMBER_CHARS.fullmatch(text):
        return None
    if region is None and text.isdigit():
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


# What a number's area code says about it: where its owner lives only for
# these types. NANP toll-free (8XX), premium-rate (900) and personal (5XX)
# area codes name no place, so a proxy number sharing one is not local.
_PLACE_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
)
NANP_COUNTRY_CODE = 1


def nanp_area_code(number: object) -> str | None:
    """The area code of a North American number that belongs to a place ("415" for +1 415 …), else None.

    None for other countries, for toll-free, premium-rate and personal numbers,
    and for anything that is not a valid number.
    """
    e164 = to_e164(str(number)) if number else None
    # Country codes are prefix-free: "+1" is the whole of the NANP's.
    if e164 is None or not e164.startswith(f"+{NANP_COUNTRY_CODE}"):
        return None
    parsed = phonenumbers.parse(e164)
    if phonenumbers.number_type(parsed) not in _PLACE_TYPES:
        return None
    # Every NANP national number is the three-digit area code and seven digits.
    return str(parsed.national_number)[:3]


# The callable-number rule (docs/security.md, "Callable numbers"): the types of number
# whose call costs the caller more than a call to a person, or reaches
# something other than a person, and so are what toll fraud dials.
_REFUSED_TYPES = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "Premium-rate numbers are not called (callable-number rule).",
    phonenumbers.PhoneNumberType.SHARED_COST: "Shared-cost numbers are not called (callable-number rule).",
    phonenumbers.PhoneNumberType.UAN: "Universal access numbers (UAN) are not called (callable-number rule).",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "Personal numbers, which forward calls anywhere, are not "
    "called (callable-number rule).",
    phonenumbers.PhoneNumberType.PAGER: "Pager numbers are not called (callable-number rule).",
}
# Satellite phones and global services: no country, priced by the network, and
# the numbers one-ring scams ask people to call back.
INTERNATIONAL_NETWORK_CODES = frozenset({800, 808, 870, 878, 881, 882, 883, 888, 979})
_INTERNATIONAL_NETWORK = (
    "International network numbers (satellite phones and global services: +800, +808, +870, +878, +881 to +883, "
    "+888, +979) are not called (callable-number rule)."
)
_NOT_VALID = "Invalid numbers (no country has them in use) are not called (callable-number rule)."


def callable_problem(number: object, countries: Collection[str] | None) -> str | None:
    """None when the service may call ``number``, else a sentence naming the rule it breaks.

    ``countries`` are the ISO regions parties may be in (orders.pool.party_countries);
    None skips that part of the rule. The sentence never holds the number: it
    may reach a log.
    """
    problem, region = _classify(str(number or "").strip())
    if problem is None and countries is not None and region not in countries:
        listed = ", ".join(sorted(countries)) or "no country"
        return (
            f"Numbers in {region} are not called: parties must be in {listed} (callable-number rule; "
            "MASKING_PARTY_COUNTRIES, by default the countries of the active proxy numbers)."
        )
    return problem


# Asked on every answer that dials (voice.calls.xml_for) and on every write of
# a party's phone. A miss costs tens of microseconds: parsing and typing walk
# phonenumbers' metadata patterns, so each is done once.
@lru_cache(maxsize=4096)
def _classify(text: str) -> tuple[str | None, str | None]:
    """(the problem apart from the country rule, or None; the number's ISO region)."""
    number = _parse(text, None)
    if number is None:
        return _NOT_VALID, None
    if number.country_code in INTERNATIONAL_NETWORK_CODES:
        return _INTERNATIONAL_NETWORK, None
    # UNKNOWN exactly when phonenumbers.is_valid_number is False, without matching the patterns twice.
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return _NOT_VALID, None
    return _REFUSED_TYPES.get(kind), phonenumbers.region_code_for_number(number)


def display(number: object) -> str:
    """A number as people read and type it: "+1 415 555 0100" (international form, spaces only)."""
    try:
        parsed = phonenumbers.parse(str(number or ""))
    except phonenumbers.NumberParseException:
        return str(number or "")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL).replace("-", " ")


def redact(number: object) -> str:
    """A number fit for a log line: at most the country code and the last two digits.

    Anything more narrows it down: in US numbering the last four digits are
    the subscriber part, which with the area code leaves 1,000 candidates.
    """
    e164 = to_e164(str(number or "")) if number else None
    if e164 is None:
        return "***"
    country_code = phonenumbers.parse(e164).country_code
    # Three digits at least stay hidden: a short number (+683 4002) shows fewer.
    tail = max(0, min(2, len(e164) - 1 - len(str(country_code)) - 3))
    return f"+{country_code}***{e164[-tail:] if tail else ''}"


# Anything that is not a printable character: newlines forge log lines.
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def log_value(value: object, length: int = 64) -> str:
    """A value from a request made fit for a log line.

    Printable ASCII only (a newline would forge a log line), clipped, and any
    run of digits that could be a phone number hidden: a CallUUID is whatever
    the request says it is.
    """
    return hide_numbers(_UNPRINTABLE.sub("?", str(value if value is not None else ""))[:length])
