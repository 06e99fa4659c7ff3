"""Faults every webhook meets: a lost database, killed connections, a failing query or a bug.

The lost-database tests run the real app under gunicorn in a subprocess, bound
to a free port on 127.0.0.1, so they see what Plivo would see over HTTP.
"""

import logging
import os
import secrets
import xml.etree.ElementTree as ET
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.db import DatabaseError, OperationalError, connection

from tests.support.forwarder import Forwarder
from tests.support.servers import GunicornServer, free_port
from tests.support.webhooks import assert_apology, call_params, sms_params, xml_of
from tests.support.world import AGENT_PHONE, CUSTOMER
from voice.models import CallRecord, MessageRecord
from voice.plivo import xml

PUBLIC_BASE_URL = "http://masking.example.com"
AUTH_TOKEN = "test-auth-token"

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)"
)


@pytest.fixture
def app_factory(tmp_path):
    """Starts the service under gunicorn, one sync worker, talking to ``database_url``."""
    apps: list[GunicornServer] = []

    def start(database_url: str) -> GunicornServer:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
            "DATABASE_URL": database_url,
            # Keep the connection between requests, as production does, so a
            # connection killed under the app is one it would reuse.
            "CONN_MAX_AGE": "600",
            "LOG_LEVEL": "WARNING",
        }
        app = GunicornServer(
            env,
            tmp_path / f"gunicorn-{len(apps)}.log",
            args=["--workers", "1", "--graceful-timeout", "2"],
            public_base_url=PUBLIC_BASE_URL,
            auth_token=AUTH_TOKEN,
        )
        apps.append(app)
        app.wait_until_up()
        return app

    yield start
    for app in apps:
        app.stop()


def dialled_number(body: bytes) -> str | None:
    number = ET.fromstring(body).find("Dial/Number")
    return None if number is None else number.text


def postgres_url(port: int, **options: str) -> str:
    db = connection.settings_dict
    query = f"?{urlencode(options)}" if options else ""
    return f"postgres://{db['USER']}@127.0.0.1:{port}/{db['NAME']}{query}"


def test_with_the_database_unreachable_calls_hear_the_apology_and_healthz_fails(app_factory):
    app = app_factory(f"postgres://postgres@127.0.0.1:{free_port()}/nothing_listens_here")

    status, body = app.signed_answer()
    health, _ = app.request("/healthz")

    assert status == 200
    assert body.decode() == xml.apology()
    assert health == 503


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_the_service_recovers_by_itself_when_the_database_comes_back(app_factory, live_order):
    port = free_port()
    app = app_factory(postgres_url(port))
    assert app.signed_answer()[1].decode() == xml.apology()
    assert app.request("/healthz")[0] == 503

    db = connection.settings_dict
    relay = Forwarder(port, (db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    relay.start()  # the database's network path is back
    try:
        status, body = app.signed_answer()
        health, _ = app.request("/healthz")
    finally:
        # gunicorn must let go of the test database before it is flushed.
        app.stop()
        relay.stop()

    assert status == 200
    assert dialled_number(body) == AGENT_PHONE.lstrip("+")
    assert health == 200


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_the_service_reconnects_by_itself_after_its_connections_are_killed(app_factory, live_order):
    db = connection.settings_dict
    app_name = f"mask-faults-{secrets.token_hex(4)}"
    app = app_factory(postgres_url(int(db["PORT"] or 5432), application_name=app_name))
    assert dialled_number(app.signed_answer()[1]) == AGENT_PHONE.lstrip("+")

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [app_name])
        killed = cursor.fetchall()
    try:
        after = [app.signed_answer() for _ in range(3)]
        health, _ = app.request("/healthz")
    finally:
        app.stop()

    assert killed == [(True,)]
    assert [(status, dialled_number(body)) for status, body in after] == [(200, AGENT_PHONE.lstrip("+"))] * 3
    assert health == 200


# A failing query or a bug inside a webhook: the caller hears the apology, never a 500.


@pytest.mark.django_db
def test_a_database_error_at_answer_is_an_apology_not_a_500(plivo, live_order, caplog):
    with mock.patch("voice.calls.resolve", side_effect=OperationalError("server closed the connection")):
        response = plivo.signed_post("/voice/answer/", call_params("14156667777"))

    assert_apology(xml_of(response))
    assert not CallRecord.objects.exists()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "voice.plivo.webhook"]
    assert len(errors) == 1
    assert "database error" in errors[0].getMessage()


@pytest.mark.django_db
def test_a_database_error_while_recording_the_call_is_an_apology(plivo, live_order, caplog):
    with mock.patch("voice.records.record_answer", side_effect=OperationalError("disk full")):
        response = plivo.signed_post("/voice/answer/", call_params("14156667777"))

    assert_apology(xml_of(response))
    assert "database error" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "target", "extra"),
    [
        ("/voice/pin/?attempt=1", "voice.calls.resolve_pin", {"Digits": "1234"}),
        ("/voice/dial-status/", "voice.records.update_call", {"DialStatus": "completed"}),
        ("/voice/hangup/", "voice.records.update_call", {"Duration": "5"}),
    ],
)
def test_a_database_error_in_any_call_webhook_is_an_apology(plivo, live_order, caplog, path, target, extra):
    with mock.patch(target, side_effect=OperationalError("gone")):
        response = plivo.signed_post(path, call_params("14156667777", **extra))

    assert_apology(xml_of(response))
    assert any(r.levelno == logging.ERROR for r in caplog.records)


@pytest.mark.django_db
def test_an_unexpected_error_is_an_apology_too(plivo, live_order, caplog):
    with mock.patch("voice.calls.resolve", side_effect=RuntimeError("bug")):
        response = plivo.signed_post("/voice/answer/", call_params("14156667777"))

    assert_apology(xml_of(response))
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)


@pytest.mark.django_db
def test_a_database_error_at_the_message_url_answers_503_for_plivo_to_retry_not_a_spoken_apology(plivo, live_order):
    # Plivo retries an SMS callback that gets no 200 (tests/voice/test_callback_queue.py sends the retry).
    with mock.patch("voice.messages.resolve", side_effect=DatabaseError("connection lost")):
        response = plivo.signed_post("/voice/message/", sms_params(CUSTOMER, "hello"))

    assert response.status_code == 503
    assert b"Speak" not in response.content
    assert not MessageRecord.objects.exists()


@pytest.mark.django_db
def test_any_other_error_at_the_message_url_answers_an_empty_response(plivo, live_order):
    # <Speak> is not allowed in a message answer; an empty one sends nothing. A retry would meet the same bug.
    with mock.patch("voice.messages.resolve", side_effect=RuntimeError("bug")):
        response = plivo.signed_post("/voice/message/", sms_params(CUSTOMER, "hello"))

    assert response.status_code == 200
    assert response.content == b"<Response/>"
    assert not MessageRecord.objects.exists()
