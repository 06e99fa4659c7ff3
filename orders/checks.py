"""System checks for the masking settings, so a typo is a sentence at start-up."""

import phonenumbers
from django.conf import settings
from django.core.checks import Error, register


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
    return errors
