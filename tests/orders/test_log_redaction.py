"""What reaches a log line: no phone number, no forged line."""

import logging
import logging.config
import sys

import pytest
from django.conf import settings
from django.db import IntegrityError

from orders.phones import log_value, redact
from tests.support.world import CUSTOMER, PROXY

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("+14156667777", "+1***77"),
        ("14156667777", "+1***77"),
        ("+442071838750", "+44***50"),
        ("+6834002", "+683***2"),  # four national digits: three stay hidden
        ("sip:alice@example.com", "***"),
        ("", "***"),
    ],
)
def test_a_redacted_number_shows_at_most_the_country_code_and_two_digits(number, shown):
    assert redact(number) == shown


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        ("call-1\n2026-01-01 00:00:00 ERROR forged line", "call-1?2026-01-01 00:00:00 ERROR forged line"),
        ("14155550123", "***"),
        ("+14155550123\r", "***?"),
        ("ab" * 100, "ab" * 32),
    ],
)
def test_a_webhook_value_is_made_fit_for_a_log_line(value, logged):
    assert log_value(value) == logged


def test_a_pin_request_s_call_uuid_cannot_forge_a_line_or_log_a_number(plivo, live_order, caplog):
    caplog.set_level(logging.INFO)
    forged = "14155550123\nINFO voice.calls call 1 connected to 14155550124"

    plivo.signed_post("/voice/pin/?attempt=3", {"CallUUID": forged, "From": CUSTOMER, "To": PROXY, "Digits": "99"})

    (line,) = [record.getMessage() for record in caplog.records if "wrong PINs" in record.getMessage()]
    assert "\n" not in line
    assert "4155550123" not in line and "4155550124" not in line


def _formatted(record: logging.LogRecord) -> str:
    """The record as the configured console handler writes it."""
    config = settings.LOGGING["formatters"]["plain"]
    factory = logging.config.DictConfigurator({}).resolve(config["()"])
    return factory(fmt=config["format"]).format(record)


def test_database_error_details_in_a_traceback_show_no_number():
    try:
        raise IntegrityError("duplicate key value\nDETAIL:  Key (phone)=(+14155580011) already exists.")
    except IntegrityError:
        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal error", (), sys.exc_info())

    output = _formatted(record)

    assert "Key (phone)=(***) already exists" in output
    assert "4155580011" not in output


def test_a_logged_message_stays_on_one_line():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "rejected %s", ("a\nb\r\nc",), None)

    assert _formatted(record).endswith("rejected a\\nb\\r\\nc")
