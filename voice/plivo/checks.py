"""System checks for the Plivo edge settings."""

import re
from string import Formatter
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from orders.phones import to_e164


@register()
def check_voice_settings(app_configs, **kwargs) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    public = urlsplit(settings.PUBLIC_BASE_URL)
    if public.scheme not in ("http", "https") or not public.netloc or public.path not in ("", "/"):
        problems.append(
            Error(
                f"PUBLIC_BASE_URL={settings.PUBLIC_BASE_URL!r} must be the scheme and host Plivo calls, "
                "such as https://masking.example.com, with no path.",
                hint="Plivo signs the exact URL it requests; webhook signatures are checked against this base.",
                id="voice.E001",
            )
        )
    if settings.MASKING_SUPPORT_NUMBER and to_e164(settings.MASKING_SUPPORT_NUMBER) is None:
        problems.append(
            Error(
                "MASKING_SUPPORT_NUMBER is not a phone number.",
                hint="Give it in international form with the country code, such as +14155550199.",
                id="voice.E002",
            )
        )
    for name in ("PLIVO_CONNECT_TIMEOUT", "PLIVO_READ_TIMEOUT"):
        if getattr(settings, name) <= 0:
            problems.append(
                Error(
                    f"{name} must be a number of seconds above zero.",
                    hint="The defaults are 3 (connect) and 10 (read); without a timeout a stalled Plivo holds a "
                    "worker for ever.",
                    id="voice.E006",
                )
            )
    return problems


# Every text a caller or callee hears, and the missed-call text, with the
# placeholders each may hold (the others are not formatted).
TEXT_SETTINGS: dict[str, tuple[str, ...]] = {
    "MASKING_UNKNOWN_CALLER_MESSAGE": (),
    "MASKING_CALL_LIMIT_MESSAGE": (),
    "MASKING_APOLOGY_MESSAGE": (),
    "MASKING_PIN_PROMPT": (),
    "MASKING_PIN_RETRY": (),
    "MASKING_PIN_GOODBYE": (),
    "MASKING_NO_INPUT_GOODBYE": (),
    "MASKING_NOT_AVAILABLE_MESSAGE": (),
    "MASKING_VOICEMAIL_PROMPT": (),
    "MASKING_VOICEMAIL_THANKS": (),
    "MASKING_RECORDING_NOTICE": (),
    "MASKING_WHISPER_TEXT": ("caller", "reference"),
    "MASKING_BRIDGE_TEXT": ("callee", "reference"),
    "MASKING_ACCEPT_PROMPT": ("key",),
    "MASKING_MISSED_CALL_SMS_TEXT": ("caller", "reference", "proxy_number"),
}
# Seven digits or more in one run of digits and separators: a phone number in
# any format (an E.164 number has at least eight), where phonenumbers' own
# matcher skips the fictional ranges (555) people paste from examples.
_PHONE_LIKE = re.compile(r"\+?\d[\d\s().-]*\d")
ACCEPT_KEYS = frozenset("0123456789#*")


def _holds_phone_number(text: str) -> bool:
    return any(sum(c.isdigit() for c in match.group()) >= 7 for match in _PHONE_LIKE.finditer(text))


def _placeholders(text: str) -> list[str] | None:
    """The names of the text's {placeholders}, or None when it is not a format string."""
    try:
        return [name for _, name, _, _ in Formatter().parse(text) if name is not None]
    except ValueError:
        return None


@register()
def check_spoken_texts(app_configs, **kwargs) -> list[Error]:
    """No text may say a phone number (only the missed-call text's {proxy_number}, filled in per call)."""
    errors = []
    for name, allowed in TEXT_SETTINGS.items():
        text = getattr(settings, name)
        names = _placeholders(text) if allowed else []
        if names is None or any(field not in allowed for field in names):
            errors.append(
                Error(
                    f"{name} has a placeholder it cannot fill.",
                    hint=f"It may use {', '.join('{' + field + '}' for field in allowed)}; "
                    "write a literal brace as {{ or }}.",
                    id="voice.E004",
                )
            )
            continue
        filled = text.format(**dict.fromkeys(allowed, "")) if allowed else text
        if _holds_phone_number(filled):
            errors.append(
                Error(
                    f"{name} contains a phone number.",
                    hint="Spoken texts and the missed-call text never carry a phone number: masking would be "
                    "defeated. Remove it (the missed-call text may name the proxy number as {proxy_number}).",
                    id="voice.E003",
                )
            )
    if settings.MASKING_ACCEPT_KEY and settings.MASKING_ACCEPT_KEY not in ACCEPT_KEYS:
        errors.append(
            Error(
                f"MASKING_ACCEPT_KEY={settings.MASKING_ACCEPT_KEY!r} is not a key of a phone keypad.",
                hint="Use one digit, # or *, or leave it empty to connect without a key.",
                id="voice.E005",
            )
        )
    return errors


# Part of ``check --deploy`` only: every command runs the ordinary checks, and
# a local run without Plivo would print this block before each one's output.
# Locally the refusal says it where it matters, in the log line of each
# request refused for want of the token (voice/plivo/webhook.py).
@register(Tags.security, deploy=True)
def check_plivo_token(app_configs, **kwargs) -> list[Warning]:
    """Part of ``check --deploy``: without the token every call is refused."""
    if not settings.PLIVO_VALIDATE_SIGNATURES or settings.PLIVO_AUTH_TOKEN:
        return []
    return [
        Warning(
            "PLIVO_AUTH_TOKEN is not set, so every webhook request will be rejected with 403.",
            hint="Set PLIVO_AUTH_TOKEN to your Plivo auth token (or PLIVO_VALIDATE_SIGNATURES=false for a "
            "local experiment only).",
            id="voice.W001",
        )
    ]


@register(Tags.security, deploy=True)
def check_signatures_on_in_production(app_configs, **kwargs) -> list[Warning]:
    """Part of ``check --deploy``: an open webhook lets anyone place calls on the business's numbers."""
    if settings.PLIVO_VALIDATE_SIGNATURES:
        return []
    return [
        Warning(
            "PLIVO_VALIDATE_SIGNATURES is off: anyone who finds the webhook URLs can route calls through "
            "your proxy numbers and read who is connected to whom.",
            hint="Remove PLIVO_VALIDATE_SIGNATURES (it defaults to true) and set PLIVO_AUTH_TOKEN.",
            id="voice.W002",
        )
    ]
