"""Misconfiguration is a sentence from `manage.py check`, not a surprise on the first call."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from orders.checks import check_masking_settings
from voice.checks import check_voice_settings


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


@pytest.mark.parametrize(
    "url", ["masking.example.com", "ftp://masking.example.com", "https://masking.example.com/voice", "https://"]
)
def test_a_public_base_url_plivo_cannot_call_is_an_error(settings, url):
    settings.PUBLIC_BASE_URL = url

    problems = check_voice_settings(None)

    assert ids(problems) == ["voice.E001"]
    assert "PUBLIC_BASE_URL" in problems[0].msg


def test_validation_without_an_auth_token_is_reported(settings):
    settings.PLIVO_AUTH_TOKEN = ""

    problems = check_voice_settings(None)

    assert ids(problems) == ["voice.W001"]
    assert "rejected with 403" in problems[0].msg


def test_no_auth_token_is_fine_when_validation_is_off(settings):
    settings.PLIVO_AUTH_TOKEN = ""
    settings.PLIVO_VALIDATE_SIGNATURES = False

    assert check_voice_settings(None) == []


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
