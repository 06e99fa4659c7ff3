"""System checks for the Plivo edge settings."""

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
    if settings.PLIVO_VALIDATE_SIGNATURES and not settings.PLIVO_AUTH_TOKEN:
        problems.append(
            Warning(
                "PLIVO_AUTH_TOKEN is not set, so every webhook request will be rejected with 403.",
                hint="Set PLIVO_AUTH_TOKEN to your Plivo auth token (or PLIVO_VALIDATE_SIGNATURES=false for a "
                "local experiment only).",
                id="voice.W001",
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
    return problems


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
