"""System checks for the masking settings, so a typo is a sentence at start-up."""

import phonenumbers
from django.conf import settings
from django.core.checks import Error, register

from .tasks import purge_time


@register()
def check_masking_settings(app_configs, **kwargs) -> list[Error]:
    errors = []
    if settings.MASKING_DEFAULT_REGION not in phonenumbers.SUPPORTED_REGIONS:
        errors.append(
            Error(
                f"MASKING_DEFAULT_REGION={settings.MASKING_DEFAULT_REGION!r} is not a known ISO region code.",
                hint="Use a two-letter region such as US, GB or IN.",
                id="orders.E001",
            )
        )
    unknown = [code for code in settings.MASKING_PARTY_COUNTRIES if code not in phonenumbers.SUPPORTED_REGIONS]
    if unknown:
        errors.append(
            Error(
                f"MASKING_PARTY_COUNTRIES names {', '.join(map(repr, unknown))}, not known ISO region code(s).",
                hint="List two-letter regions separated by commas, such as US,CA or GB; leave it empty to call "
                "parties in the countries of the active proxy numbers.",
                id="orders.E006",
            )
        )
    if not 3 <= settings.MASKING_PIN_LENGTH <= 8:
        errors.append(
            Error(
                f"MASKING_PIN_LENGTH={settings.MASKING_PIN_LENGTH} is out of range.",
                hint="Use between 3 and 8 digits; 4 is the usual choice.",
                id="orders.E002",
            )
        )
    for name in ("MASKING_SESSION_TTL", "MASKING_GRACE_PERIOD"):
        if getattr(settings, name) < 0:
            errors.append(Error(f"{name} must be a number of seconds, zero or more.", id="orders.E003"))
    if settings.MASKING_MAX_CALLS_PER_HOUR < 0:
        errors.append(
            Error(
                "MASKING_MAX_CALLS_PER_HOUR must be a number of calls, zero or more.",
                hint="Use 0 for no limit; the default is 20.",
                id="orders.E005",
            )
        )
    try:
        purge_time()
    except ValueError:
        errors.append(
            Error(
                f"MASKING_PURGE_AT={settings.MASKING_PURGE_AT!r} is not a time of day.",
                hint="Use HH:MM in TIME_ZONE, such as 03:30; leave it empty to turn the worker's daily purge off.",
                id="orders.E007",
            )
        )
    if not _is_throttle_rate(settings.API_THROTTLE_RATE):
        errors.append(
            Error(
                f"API_THROTTLE_RATE={settings.API_THROTTLE_RATE!r} is not a request rate.",
                hint="Use requests per period, such as 1200/min, 20/s, 50000/hour or 1000000/day.",
                id="orders.E004",
            )
        )
    return errors


def _is_throttle_rate(rate: str) -> bool:
    # DRF reads "N/period" by the period's first letter; anything else fails every API request.
    number, _, period = rate.partition("/")
    return number.isdigit() and int(number) > 0 and period[:1] in {"s", "m", "h", "d"}
