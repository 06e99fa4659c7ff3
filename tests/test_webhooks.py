"""Every URL Plivo or a load balancer calls, and what the service never says or logs."""

import logging
import re
import xml.etree.ElementTree as ET
from unittest import mock

import pytest
from django.db import OperationalError

from orders.models import Agent
from orders.phones import redact
from voice.models import CallRecord
from voice.xml import APOLOGY, NOT_AVAILABLE, PIN_GOODBYE, PIN_PROMPT, PIN_RETRY

from .conftest import CUSTOMER, PlivoClient, call_params, open_line, spoken, xml_of

pytestmark = pytest.mark.django_db


def assert_apology(root: ET.Element) -> None:
    assert spoken(root) == [APOLOGY]
    assert root[-1].tag == "Hangup"
    assert root.find("Dial") is None


@pytest.mark.parametrize("path", ["/voice/answer/", "/numbermasking/handle_incoming/"])
def test_the_answer_urls_connect_a_signed_post(plivo, live_order, path):
    root = xml_of(plivo.signed_post(path, call_params("14156667777", call_uuid="post-call")))

    dial = root.find("Dial")
    assert dial.get("callerId") == "14155550100"
    assert dial.find("Number").text == "14156667778"
    assert CallRecord.objects.get(call_uuid="post-call").order == live_order


@pytest.mark.parametrize("path", ["/voice/answer/", "/numbermasking/handle_incoming/"])
def test_the_answer_urls_connect_a_signed_get(plivo, live_order, path):
    root = xml_of(plivo.signed_get(path, call_params("14156667778", call_uuid="get-call")))

    dial = root.find("Dial")
    assert dial.get("callerId") == "14155550100"
    assert dial.find("Number").text == "14156667777"
    assert CallRecord.objects.get(call_uuid="get-call").caller_role == "agent"


def test_webhooks_need_no_csrf_token(live_order):
    plivo = PlivoClient(enforce_csrf_checks=True)

    root = xml_of(plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="no-csrf")))

    assert root.find("Dial") is not None
    assert CallRecord.objects.filter(call_uuid="no-csrf").exists()


def test_the_seed_tutorials_route_rejects_an_unsigned_request(client, live_order):
    response = client.get("/numbermasking/handle_incoming/", call_params("14156667777"))

    assert response.status_code == 403
    assert not CallRecord.objects.exists()


def test_the_pin_url_answers_a_signed_post(plivo, live_order):
    root = xml_of(plivo.signed_post("/voice/pin/?attempt=1", call_params("14156667777", Digits=live_order.pin)))

    assert root.find("Dial").find("Number").text == "14156667778"


def test_the_dial_status_url_answers_a_signed_post(plivo, live_order):
    root = xml_of(plivo.signed_post("/voice/dial-status/", call_params("14156667777", DialStatus="no-answer")))

    assert spoken(root) == [NOT_AVAILABLE]
    assert CallRecord.objects.get().dial_status == "no-answer"


def test_the_hangup_url_answers_an_empty_response(plivo, live_order):
    response = plivo.signed_post("/voice/hangup/", call_params("14156667777", Duration="3"))

    assert len(xml_of(response)) == 0
    assert CallRecord.objects.get().duration == 3


@pytest.mark.parametrize("method", ["signed_get", "signed_post"])
def test_the_fallback_url_apologises_without_touching_the_database(plivo, django_assert_num_queries, method):
    with django_assert_num_queries(0):
        response = getattr(plivo, method)("/voice/fallback/", call_params("14156667777"))

    assert_apology(xml_of(response))


def test_the_fallback_url_rejects_an_unsigned_request(client):
    assert client.post("/voice/fallback/", call_params("14156667777")).status_code == 403


@pytest.mark.parametrize("path", ["/voice/pin/", "/voice/dial-status/", "/voice/hangup/"])
def test_post_only_webhooks_refuse_get(plivo, path):
    assert plivo.signed_get(path, call_params("14156667777")).status_code == 405


def test_healthz_answers_ok_when_the_database_answers(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok\n"


def test_healthz_answers_a_load_balancers_head_probe(client, db):
    assert client.head("/healthz").status_code == 200


def test_healthz_answers_503_when_the_database_does_not(client, db, caplog):
    broken = mock.Mock()
    broken.cursor.side_effect = OperationalError("connection refused")

    with mock.patch("voice.views.connection", broken):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert b"database unavailable" in response.content
    assert "database unavailable" in caplog.text


def test_the_root_url_leads_to_the_admin(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_a_database_error_at_answer_is_an_apology_not_a_500(plivo, live_order, caplog):
    with mock.patch("voice.calls.resolve", side_effect=OperationalError("server closed the connection")):
        response = plivo.signed_post("/voice/answer/", call_params("14156667777"))

    assert_apology(xml_of(response))
    assert not CallRecord.objects.exists()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "voice.webhook"]
    assert len(errors) == 1
    assert "database error" in errors[0].getMessage()


def test_a_database_error_while_recording_the_call_is_an_apology(plivo, live_order, caplog):
    with mock.patch("voice.records.record_answer", side_effect=OperationalError("disk full")):
        response = plivo.signed_post("/voice/answer/", call_params("14156667777"))

    assert_apology(xml_of(response))
    assert "database error" in caplog.text


@pytest.mark.parametrize(
    ("path", "target", "extra"),
    [
        ("/voice/pin/?attempt=1", "voice.calls.resolve_pin", {"Digits": "1234"}),
        ("/voice/dial-status/", "voice.records.update_call", {"DialStatus": "completed"}),
        ("/voice/hangup/", "voice.records.update_call", {"Duration": "5"}),
    ],
)
def test_a_database_error_in_any_webhook_is_an_apology(plivo, live_order, caplog, path, target, extra):
    with mock.patch(target, side_effect=OperationalError("gone")):
        response = plivo.signed_post(path, call_params("14156667777", **extra))

    assert_apology(xml_of(response))
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_an_unexpected_error_is_an_apology_too(plivo, live_order, caplog):
    with mock.patch("voice.calls.resolve", side_effect=RuntimeError("bug")):
        response = plivo.signed_post("/voice/answer/", call_params("14156667777"))

    assert_apology(xml_of(response))
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)


PHONE_LIKE = re.compile(r"\d[\d\s().+-]{5,}\d")


def test_no_spoken_text_contains_a_phone_number(settings, plivo, proxy_number, agent):
    open_line(CUSTOMER, agent)
    open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))
    answers = [
        plivo.signed_post("/voice/answer/", call_params("14156667777")),
        plivo.signed_post("/voice/pin/?attempt=1", call_params("14156667777", Digits="")),
        plivo.signed_post("/voice/pin/?attempt=3", call_params("14156667777", Digits="")),
        plivo.signed_post("/voice/answer/", call_params("14150001234")),
        plivo.signed_post("/voice/dial-status/", call_params("14156667777", DialStatus="busy")),
        plivo.signed_post("/voice/fallback/", call_params("14156667777")),
    ]

    texts = [text for response in answers for text in spoken(xml_of(response))]

    assert set(texts) >= {PIN_PROMPT, PIN_RETRY, PIN_GOODBYE, NOT_AVAILABLE, APOLOGY}
    assert settings.MASKING_UNKNOWN_CALLER_MESSAGE in texts
    assert [text for text in texts if PHONE_LIKE.search(text)] == []


def test_no_log_line_contains_a_full_phone_number_during_a_call(settings, caplog, plivo, proxy_number, agent):
    caplog.set_level(logging.DEBUG)
    settings.MASKING_SUPPORT_NUMBER = "+14155550199"
    numbers = ["+14156667777", "+14156667778", "+14156667780", "+14155550100", "+14150001234", "+14155550199"]

    first = open_line(CUSTOMER, agent)
    open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))  # warns: pool exhausted
    plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="c1"))
    plivo.signed_post("/voice/pin/?attempt=1", call_params("14156667777", call_uuid="c1", Digits="9999"))
    plivo.signed_post("/voice/pin/?attempt=3", call_params("14156667777", call_uuid="c1", Digits="9999"))
    plivo.signed_post("/voice/pin/?attempt=2", call_params("14156667777", call_uuid="c1", Digits=first.pin))
    plivo.signed_post("/voice/dial-status/", call_params("14156667777", call_uuid="c1", DialStatus="completed"))
    plivo.signed_post("/voice/hangup/", call_params("14156667777", call_uuid="c1", Duration="30"))
    plivo.signed_post("/voice/answer/", call_params("14150001234", call_uuid="c2"))
    plivo.post("/voice/answer/", call_params("14156667777"))  # unsigned: rejected and logged
    with mock.patch("voice.calls.resolve", side_effect=OperationalError("server closed the connection")):
        plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="c3"))

    assert len(caplog.records) >= 8
    # caplog.text is every record as the log handler formats it, tracebacks included.
    for number in numbers:
        assert number[2:] not in caplog.text, number


def digits(text: str) -> str:
    return "".join(character for character in text if character.isdigit())


@pytest.mark.parametrize(
    "number", ["+6834002", "+50012345", "+299123456", "+3541234567", "+14156667777", "+447400123456", "+8613800138000"]
)
def test_a_redacted_number_always_hides_digits(number):
    redacted = redact(number)

    assert len(digits(number)) - len(digits(redacted)) >= 3, redacted


def test_a_short_foreign_number_is_not_logged_in_full(caplog, plivo, live_order):
    caplog.set_level(logging.DEBUG)

    plivo.signed_post("/voice/answer/", call_params("50012345"))  # the Falkland Islands: five-digit numbers

    lines = [record.getMessage() for record in caplog.records if "call from" in record.getMessage()]
    assert len(lines) == 1
    assert len(digits(lines[0].split(" to ")[0])) <= 5, lines[0]
