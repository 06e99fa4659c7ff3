"""voice/xml.py's answers: the same elements and attributes plivoxml builds, for the settings of the moment."""

import xml.etree.ElementTree as ET

import pytest
from django.conf import settings as django_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from plivo import plivoxml

from voice import xml

numbers = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)


def dial_with_plivoxml(number: str, caller_id: str | None, *, timeout: int, time_limit: int, base: str) -> str:
    """The Dial answer built the plain way, as voice/xml.py did before it cached it."""
    element = plivoxml.DialElement(
        caller_id=caller_id.lstrip("+") if caller_id else None,
        timeout=timeout,
        time_limit=time_limit,
        action=base + "/voice/dial-status/",
        method="POST",
    )
    element.add(plivoxml.NumberElement(number.lstrip("+")))
    return plivoxml.ResponseElement().add(element).to_string(pretty=False)


def tree(answer: str) -> list[tuple[str, dict[str, str], str | None]]:
    """Each element of an answer, in document order: tag, attributes, text. Attribute order is not XML's meaning."""
    return [(element.tag, element.attrib, element.text) for element in ET.fromstring(answer).iter()]


@given(number=numbers, caller_id=st.none() | numbers)
@hypothesis_settings(deadline=None)
def test_dial_is_what_plivoxml_builds(number, caller_id):
    expected = dial_with_plivoxml(
        number,
        caller_id,
        timeout=django_settings.MASKING_RING_TIMEOUT,
        time_limit=django_settings.MASKING_CALL_TIME_LIMIT,
        base=django_settings.PUBLIC_BASE_URL,
    )

    assert tree(xml.dial(number, caller_id=caller_id)) == tree(expected)


def test_dial_follows_the_settings_of_the_moment(settings):
    first = xml.dial("+14155550123", caller_id="+14155550100")
    settings.MASKING_RING_TIMEOUT = 17
    settings.MASKING_CALL_TIME_LIMIT = 99
    settings.PUBLIC_BASE_URL = "https://elsewhere.example.com"

    answer = xml.dial("+14155550123", caller_id="+14155550100")

    assert answer != first
    assert tree(answer) == tree(
        dial_with_plivoxml(
            "+14155550123", "+14155550100", timeout=17, time_limit=99, base="https://elsewhere.example.com"
        )
    )


def test_dial_escapes_its_action_url_as_plivoxml_does(settings):
    settings.PUBLIC_BASE_URL = 'https://masking.example.com/a&b"<c>'

    answer = xml.dial("+14155550123", caller_id="+14155550100")

    assert tree(answer) == tree(
        dial_with_plivoxml(
            "+14155550123",
            "+14155550100",
            timeout=settings.MASKING_RING_TIMEOUT,
            time_limit=settings.MASKING_CALL_TIME_LIMIT,
            base=settings.PUBLIC_BASE_URL,
        )
    )


def test_ask_pin_follows_the_settings_of_the_moment(settings):
    settings.MASKING_PIN_LENGTH = 6
    settings.PUBLIC_BASE_URL = "https://elsewhere.example.com"

    answer = xml.ask_pin(attempt=2)

    assert 'numDigits="6"' in answer
    assert 'action="https://elsewhere.example.com/voice/pin/?attempt=2"' in answer


@pytest.mark.parametrize("number", ["+1415<b>", "+1415555&amp;", "+١٤١٥٥٥٥٠١٢٣", "sip:alice@example.com", "+"])
def test_dial_refuses_anything_but_digits(number):
    with pytest.raises(ValueError, match="not an E.164 number"):
        xml.dial(number, caller_id="+14155550100")
    with pytest.raises(ValueError, match="not an E.164 number"):
        xml.dial("+14155550123", caller_id=number)
