"""voice/xml.py's answers: the same elements and attributes plivoxml builds, for the settings of the moment."""

import xml.etree.ElementTree as ET

import pytest
from django.conf import settings as django_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from plivo import plivoxml

from orders.models import Role
from voice.plivo import xml

numbers = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)


def dial_with_plivoxml(
    number: str, caller_id: str | None, *, timeout: int, time_limit: int, base: str, **confirm: object
) -> str:
    """The Dial answer built the plain way, as voice/xml.py did before it cached it."""
    element = plivoxml.DialElement(
        caller_id=caller_id.lstrip("+") if caller_id else None,
        timeout=timeout,
        time_limit=time_limit,
        action=base + "/voice/dial-status/",
        method="POST",
        **confirm,
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


@pytest.mark.parametrize(
    ("whisper", "key", "confirm"),
    [
        (True, "1", {"confirm_key": "1", "confirm_timeout": 20}),
        (True, "", {}),
        (False, "#", {"confirm_key": "#", "confirm_timeout": 20}),
    ],
)
@pytest.mark.parametrize(
    ("callee", "caller", "query"),
    [
        (Role.AGENT, None, "agent&caller=customer"),
        (Role.CUSTOMER, None, "customer&caller=agent"),
        (Role.AGENT, Role.STORE, "agent&caller=store"),
        (Role.STORE, Role.CUSTOMER, "store&caller=customer"),
    ],
)
def test_a_dial_with_whisper_or_key_is_what_plivoxml_builds(settings, whisper, key, confirm, callee, caller, query):
    settings.MASKING_WHISPER, settings.MASKING_ACCEPT_KEY = whisper, key
    settings.PUBLIC_BASE_URL = 'https://masking.example.com/a&b"'

    answer = xml.dial("+14155550123", caller_id="+14155550100", order_id=42, callee=callee, caller=caller)

    assert tree(answer) == tree(
        dial_with_plivoxml(
            "+14155550123",
            "+14155550100",
            timeout=settings.MASKING_RING_TIMEOUT,
            time_limit=settings.MASKING_CALL_TIME_LIMIT,
            base=settings.PUBLIC_BASE_URL,
            confirm_sound=f"{settings.PUBLIC_BASE_URL}/voice/whisper/?order=42&callee={query}",
            **confirm,
        )
    )


def test_a_dial_with_neither_whisper_nor_key_has_no_confirm_attributes(settings):
    settings.MASKING_WHISPER, settings.MASKING_ACCEPT_KEY = False, ""

    answer = xml.dial("+14155550123", caller_id="+14155550100", order_id=42, callee=Role.AGENT)

    assert answer == xml.dial("+14155550123", caller_id="+14155550100")


def test_the_whisper_is_speak_elements_with_the_configured_voice(settings):
    settings.MASKING_SPEAK_VOICE, settings.MASKING_SPEAK_LANGUAGE = "MAN", "en-GB"

    answer = xml.whisper("ORD-1042", "customer")

    expected = plivoxml.ResponseElement()
    for text in ("Call from your delivery agent about order O R D 1 0 4 2.", "Press 1 to accept."):
        expected.add(plivoxml.SpeakElement(text, voice="MAN", language="en-GB"))
    assert tree(answer) == tree(expected.to_string(pretty=False))


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


@pytest.mark.parametrize(
    "build",
    [
        lambda: xml.ask_pin(attempt=1),
        lambda: xml.ask_pin(attempt=2),
        xml.apology,
        lambda: xml.unknown_caller("+14155550100"),
        lambda: xml.say_and_hang_up("Goodbye."),
        lambda: xml.whisper("K7X4", "agent"),
        xml.voicemail_thanks,
        lambda: xml.missed_call(
            call_uuid="c-1",
            reference="K7X4",
            caller_role=Role.CUSTOMER,
            callee_number="+14156667778",
            proxy_number="+14155550100",
        ),
    ],
)
def test_every_speak_has_the_configured_voice_and_language(settings, build):
    settings.MASKING_SPEAK_VOICE, settings.MASKING_SPEAK_LANGUAGE = "MAN", "en-GB"

    speaks = list(ET.fromstring(build()).iter("Speak"))

    assert speaks
    assert {(s.get("voice"), s.get("language")) for s in speaks} == {("MAN", "en-GB")}


def test_the_texts_callers_hear_follow_the_settings(settings):
    settings.MASKING_PIN_PROMPT, settings.MASKING_APOLOGY_MESSAGE = "Code, please.", "Sorry."

    assert [s.text for s in ET.fromstring(xml.ask_pin()).iter("Speak")][0] == "Code, please."
    assert [s.text for s in ET.fromstring(xml.apology()).iter("Speak")] == ["Sorry."]


@pytest.mark.parametrize(("voicemail", "sms"), [(True, True), (True, False), (False, True), (False, False)])
def test_the_missed_call_answer_is_what_plivoxml_builds(settings, voicemail, sms):
    settings.MASKING_VOICEMAIL, settings.MASKING_MISSED_CALL_SMS = voicemail, sms
    settings.PUBLIC_BASE_URL = "https://m.example.com"
    speak = {"voice": "WOMAN", "language": "en-US"}
    expected = plivoxml.ResponseElement()
    if sms:
        expected.add(
            plivoxml.MessageElement(
                "Missed call from your delivery agent about order K7X4. Call back on +1 415 555 0100.",
                src="14155550100",
                dst="14156667777",
                type="sms",
            )
        )
    if voicemail:
        url = "https://m.example.com/voice/voicemail/?call=c-1"
        expected.add(plivoxml.SpeakElement(settings.MASKING_VOICEMAIL_PROMPT, **speak))
        expected.add(
            plivoxml.RecordElement(
                action=url,
                method="POST",
                callback_url=url,
                callback_method="POST",
                file_format="mp3",
                max_length=60,
                finish_on_key="#",
                play_beep=True,
            )
        )
    else:
        expected.add(plivoxml.SpeakElement(settings.MASKING_NOT_AVAILABLE_MESSAGE, **speak))
    expected.add(plivoxml.HangupElement())

    answer = xml.missed_call(
        call_uuid="c-1",
        reference="K7X4",
        caller_role=Role.AGENT,
        callee_number="+14156667777",
        proxy_number="+14155550100",
    )

    assert tree(answer) == tree(expected.to_string(pretty=False))


@pytest.mark.parametrize(("call_uuid", "query"), [("3e82ae9d-2c78", "?call=3e82ae9d-2c78"), ("bad&uuid", "")])
def test_a_recorded_dial_is_what_plivoxml_builds(settings, call_uuid, query):
    settings.MASKING_RECORD_CALLS = True
    settings.MASKING_RECORDING_NOTICE = "Recorded <for> quality & safety."
    settings.PUBLIC_BASE_URL = 'https://masking.example.com/a&b"'
    base = settings.PUBLIC_BASE_URL
    record = plivoxml.RecordElement(
        start_on_dial_answer=True,
        redirect=False,
        file_format="mp3",
        max_length=settings.MASKING_CALL_TIME_LIMIT,
        callback_url=f"{base}/voice/recording/{query}",
        callback_method="POST",
    )
    dial = plivoxml.DialElement(
        caller_id="14155550100",
        timeout=settings.MASKING_RING_TIMEOUT,
        time_limit=settings.MASKING_CALL_TIME_LIMIT,
        action=base + "/voice/dial-status/",
        method="POST",
        confirm_sound=f"{base}/voice/whisper/?order=7&callee=agent&caller=customer",
        confirm_key="1",
        confirm_timeout=20,
    ).add(plivoxml.NumberElement("14155550123"))
    expected = plivoxml.ResponseElement()
    expected.add(plivoxml.SpeakElement(settings.MASKING_RECORDING_NOTICE, voice="WOMAN", language="en-US"))
    expected.add(record).add(dial)

    answer = xml.dial("+14155550123", caller_id="+14155550100", order_id=7, callee=Role.AGENT, call_uuid=call_uuid)

    assert tree(answer) == tree(expected.to_string(pretty=False))
