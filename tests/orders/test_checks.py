"""Misconfiguration is a sentence from `manage.py check`, not a surprise on the first call."""

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from orders.checks import check_masking_settings
from voice.plivo.checks import TEXT_SETTINGS, check_plivo_token, check_spoken_texts, check_voice_settings


def ids(problems) -> list[str]:
    return [problem.id for problem in problems]


def test_the_test_settings_pass_every_check():
    assert check_masking_settings(None) == []
    assert check_voice_settings(None) == []


def test_manage_py_check_passes():
    call_command("check")


def test_an_unknown_default_region_is_an_error(settings):
    settings.MASKING_DEFAULT_REGION = "XX"

    problems = check_masking_settings(None)

    assert ids(problems) == ["orders.E001"]
    assert "MASKING_DEFAULT_REGION='XX'" in problems[0].msg


@pytest.mark.parametrize("length", [0, 2, 9])
def test_a_pin_length_out_of_range_is_an_error(settings, length):
    settings.MASKING_PIN_LENGTH = length

    assert ids(check_masking_settings(None)) == ["orders.E002"]


@pytest.mark.parametrize("length", [3, 8])
def test_pin_lengths_at_the_limits_are_accepted(settings, length):
    settings.MASKING_PIN_LENGTH = length

    assert check_masking_settings(None) == []


@pytest.mark.parametrize("name", ["MASKING_SESSION_TTL", "MASKING_GRACE_PERIOD"])
def test_a_negative_duration_is_an_error(settings, name):
    setattr(settings, name, -1)

    problems = check_masking_settings(None)

    assert ids(problems) == ["orders.E003"]
    assert name in problems[0].msg


def test_a_negative_call_limit_is_an_error(settings):
    settings.MASKING_MAX_CALLS_PER_HOUR = -1

    problems = check_masking_settings(None)

    assert ids(problems) == ["orders.E005"]
    assert "MASKING_MAX_CALLS_PER_HOUR" in problems[0].msg


@pytest.mark.parametrize(
    "url", ["masking.example.com", "ftp://masking.example.com", "https://masking.example.com/voice", "https://"]
)
def test_a_public_base_url_plivo_cannot_call_is_an_error(settings, url):
    settings.PUBLIC_BASE_URL = url

    problems = check_voice_settings(None)

    assert ids(problems) == ["voice.E001"]
    assert "PUBLIC_BASE_URL" in problems[0].msg


def test_validation_without_an_auth_token_is_reported_by_the_deploy_check_only(settings):
    settings.PLIVO_AUTH_TOKEN = ""

    problems = check_plivo_token(None)

    assert ids(problems) == ["voice.W001"]
    assert "rejected with 403" in problems[0].msg
    # Not by the checks every command runs: a local run without Plivo would see it before each command's output.
    assert check_voice_settings(None) == []
    assert "voice.W001" not in ids(run_checks(include_deployment_checks=False))
    assert "voice.W001" in ids(run_checks(include_deployment_checks=True))


def test_no_auth_token_is_fine_when_validation_is_off(settings):
    settings.PLIVO_AUTH_TOKEN = ""
    settings.PLIVO_VALIDATE_SIGNATURES = False

    assert check_voice_settings(None) == []
    assert check_plivo_token(None) == []


@pytest.mark.parametrize("number", ["support", "sip:help@example.com", "123"])
def test_a_support_number_that_is_not_a_number_is_an_error(settings, number):
    settings.MASKING_SUPPORT_NUMBER = number

    problems = check_voice_settings(None)

    assert ids(problems) == ["voice.E002"]
    assert "MASKING_SUPPORT_NUMBER" in problems[0].msg


def test_a_support_number_in_international_form_is_accepted(settings):
    settings.MASKING_SUPPORT_NUMBER = "+14155550199"

    assert check_voice_settings(None) == []


def test_manage_py_check_fails_on_a_misconfiguration(settings):
    settings.MASKING_SUPPORT_NUMBER = "support"

    with pytest.raises(SystemCheckError, match="MASKING_SUPPORT_NUMBER is not a phone number"):
        call_command("check")


# The texts callers hear (voice.E003-E005)


@pytest.mark.parametrize("name", sorted(TEXT_SETTINGS))
@pytest.mark.parametrize("number", ["+1 415 555 0100", "415-555-0100", "(415) 555 0100", "14155550100"])
def test_a_text_with_a_phone_number_is_refused(settings, name, number):
    setattr(settings, name, f"Call us on {number} instead.")

    problems = check_spoken_texts(None)

    assert ids(problems) == ["voice.E003"]
    assert name in problems[0].msg


def test_the_default_texts_pass(settings):
    assert check_spoken_texts(None) == []


def test_a_reference_or_a_key_is_not_a_phone_number(settings):
    settings.MASKING_PIN_PROMPT = "Please enter your 4 digit code, or press 0 for help."

    assert check_spoken_texts(None) == []


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("MASKING_WHISPER_TEXT", "Call about {order}."),
        ("MASKING_ACCEPT_PROMPT", "Press {key to accept."),
        ("MASKING_MISSED_CALL_SMS_TEXT", "Missed call. Call {0}."),
    ],
)
def test_a_placeholder_the_text_cannot_fill_is_refused(settings, name, text):
    setattr(settings, name, text)

    assert ids(check_spoken_texts(None)) == ["voice.E004"]


def test_braces_in_a_text_that_is_not_formatted_are_fine(settings):
    settings.MASKING_APOLOGY_MESSAGE = "Sorry {really}. Goodbye."

    assert check_spoken_texts(None) == []


@pytest.mark.parametrize("key", ["12", "a", " "])
def test_an_accept_key_that_is_not_a_keypad_key_is_refused(settings, key):
    settings.MASKING_ACCEPT_KEY = key

    assert ids(check_spoken_texts(None)) == ["voice.E005"]


@pytest.mark.parametrize("name", ["PLIVO_CONNECT_TIMEOUT", "PLIVO_READ_TIMEOUT"])
@pytest.mark.parametrize("seconds", [0, -1])
def test_a_plivo_timeout_of_zero_or_less_is_an_error(settings, name, seconds):
    setattr(settings, name, seconds)

    problems = check_voice_settings(None)

    assert ids(problems) == ["voice.E006"]
    assert name in problems[0].msg


def test_the_masking_checks_run_with_manage_py_check(settings):
    # They are registered by the orders app's config, which must be the one INSTALLED_APPS gets.
    settings.MASKING_PIN_LENGTH = 12

    with pytest.raises(SystemCheckError, match="orders.E002"):
        call_command("check")


def test_check_deploy_refuses_a_missing_or_stale_static_manifest(settings, tmp_path):
    """Without DEBUG, the manifest storage answers 500 for a static file collectstatic did not see."""
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "site.css").write_text("body {}")
    settings.STATICFILES_DIRS = [extra]
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }

    with pytest.raises(SystemCheckError, match="orders.E008.*There is no static files manifest"):
        call_command("check", "--deploy", "--tag", "staticfiles")

    call_command("collectstatic", "--no-input", verbosity=0)
    call_command("check", "--deploy", "--tag", "staticfiles")  # collected: no problem

    (extra / "added-since.css").write_text("p {}")  # a package upgraded after collectstatic
    with pytest.raises(SystemCheckError, match="orders.E008.*older than 1 static file.*'added-since.css'"):
        call_command("check", "--deploy", "--tag", "staticfiles")

    settings.DEBUG = True  # DEBUG serves the files through the finders: nothing to check
    call_command("check", "--deploy", "--tag", "staticfiles")
