"""System checks for the masking settings, so a typo is a sentence at start-up; and, with
``check --deploy``, that collectstatic has run for this release."""

import os

import phonenumbers
from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.checks import Error, Tags, register
from django.core.files.storage import storages

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


@register(Tags.staticfiles, deploy=True)
def check_static_manifest(app_configs, **kwargs) -> list[Error]:
    """Without DEBUG, a manifest storage answers 500 for any page naming a static file it has no entry for.

    collectstatic writes the manifest (the Procfile's release step, the
    Dockerfile's build); a release that skipped it, or a package upgraded
    since (new or changed files), breaks the admin and the API docs on their
    first request. Only ``check --deploy`` looks: it lists every static file.
    """
    storage = storages["staticfiles"]
    if settings.DEBUG or not isinstance(storage, ManifestFilesMixin):
        return []
    hint = "Run `python manage.py collectstatic --no-input` with this release (the Procfile's release step runs it)."
    manifest = os.path.join(settings.STATIC_ROOT, storage.manifest_name)
    if not os.path.exists(manifest):
        return [Error(f"There is no static files manifest ({manifest}).", hint=hint, id="orders.E008")]
    collected_at = os.path.getmtime(manifest)
    listed = storage.hashed_files
    stale = []
    ignored = apps.get_app_config("staticfiles").ignore_patterns  # as collectstatic leaves them out
    for finder in get_finders():
        for path, source in finder.list(ignored):
            name = path.replace(os.sep, "/")
            if name not in listed or os.path.getmtime(source.path(path)) > collected_at:
                stale.append(name)
    if stale:
        return [
            Error(
                f"The static files manifest is older than {len(stale)} static file(s), such as {stale[0]!r}: "
                "pages that name them answer 500.",
                hint=hint,
                id="orders.E008",
            )
        ]
    return []
