"""A stalled database: every wait on the request path is bounded.

Plivo gives up on an answer after about 15 s, and the call then fails
silently. With the orders table locked, or a database that accepts
connections and never answers, the service under gunicorn (as production
runs it, with the default timeouts) must answer the apology well within that,
/healthz must say 503 within a few seconds, and the API a JSON 503.
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import closing

import psycopg2
import pytest
from django.db import connection
from rest_framework_api_key.models import APIKey

from tests.support.servers import PROJECT, GunicornServer, free_port
from tests.support.webhooks import call_params
from tests.support.world import CUSTOMER
from voice.plivo import xml

PUBLIC_BASE_URL = "http://masking.example.com"
AUTH_TOKEN = "test-auth-token"
# Well within Plivo's ~15 s, and below what a hang would show (gunicorn's 30 s).
PLIVO_PATIENCE = 15
ANSWER_WITHIN = 8
HEALTHZ_WITHIN = 5

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://…)"
)


def database_url(port: int | None = None) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{port or db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def app_factory(tmp_path):
    apps: list[GunicornServer] = []

    def start(url: str) -> GunicornServer:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
            "DATABASE_URL": url,
            "CONN_MAX_AGE": "600",
            "LOG_LEVEL": "WARNING",
        }
        app = GunicornServer(
            env, tmp_path / f"gunicorn-{len(apps)}.log", args=["--workers", "2"], public_base_url=PUBLIC_BASE_URL
        )
        app.auth_token = AUTH_TOKEN
        apps.append(app)
        app.wait_until_up()
        # Both workers booted (the fallback touches no database), so the timings are the database's alone.
        for _ in range(4):
            app.signed_post("/voice/fallback/", {})
        return app

    yield start
    for app in apps:
        app.stop()


def timed(call) -> tuple[float, object]:
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def get(app: GunicornServer, path: str, headers: dict | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(app.url(path), headers=headers or {})  # noqa: S310 - local server
    try:
        with urllib.request.urlopen(request, timeout=PLIVO_PATIENCE) as response:  # noqa: S310
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def signed_answer(app: GunicornServer) -> bytes:
    status, body = app.signed_post("/voice/answer/", call_params(CUSTOMER.lstrip("+")))
    assert status == 200
    return body


class SilentDatabase:
    """Accepts TCP connections and never says a word, like a hung server or a black-holing proxy."""

    def __init__(self) -> None:
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(client)

    def close(self) -> None:
        for sock in [*self.held, self.listener]:
            sock.close()


@pytest.fixture
def silent_database():
    database = SilentDatabase()
    yield database
    database.close()


# The SilentDatabase needs no real server, but the timeouts are PostgreSQL's (libpq's connect_timeout).
@on_postgres
@pytest.mark.django_db
def test_with_a_database_that_never_answers_calls_hear_the_apology_in_seconds(app_factory, silent_database):
    app = app_factory(database_url(silent_database.port))

    answer_time, body = timed(lambda: signed_answer(app))
    health_time, (health, _, _) = timed(lambda: get(app, "/healthz"))
    api_time, (api_status, api_type, api_body) = timed(
        lambda: get(app, "/api/v1/orders/", {"Authorization": "Api-Key abc.def"})
    )

    print(f"silent database: apology after {answer_time:.2f} s, /healthz 503 after {health_time:.2f} s")
    assert body.decode() == xml.apology()
    assert answer_time < ANSWER_WITHIN
    assert health == 503 and health_time < HEALTHZ_WITHIN
    assert (api_status, api_type) == (503, "application/json")
    assert json.loads(api_body)["code"] == "database_unavailable"
    assert api_time < ANSWER_WITHIN


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_with_the_orders_table_locked_calls_hear_the_apology_in_seconds(app_factory, live_order):
    _, key = APIKey.objects.create_key(name="dispatch")
    app = app_factory(database_url())
    assert b"<Dial" in signed_answer(app)  # connected, and the connection is kept

    db = connection.settings_dict
    with closing(psycopg2.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"] or "127.0.0.1")) as locker:
        with locker.cursor() as cursor:
            cursor.execute("LOCK TABLE orders_order IN ACCESS EXCLUSIVE MODE")  # held until the rollback below
        try:
            answer_time, body = timed(lambda: signed_answer(app))
            health_time, (health, _, _) = timed(lambda: get(app, "/healthz"))
            api_time, (api_status, api_type, api_body) = timed(
                lambda: get(app, "/api/v1/orders/", {"Authorization": f"Api-Key {key}"})
            )
        finally:
            locker.rollback()
        after_lock = signed_answer(app)

    app.stop()  # let go of the test database before it is flushed
    print(f"orders locked: apology after {answer_time:.2f} s, /healthz 503 after {health_time:.2f} s")
    assert body.decode() == xml.apology()
    assert answer_time < ANSWER_WITHIN
    assert health == 503 and health_time < HEALTHZ_WITHIN
    assert (api_status, api_type) == (503, "application/json")
    assert json.loads(api_body)["code"] == "database_unavailable"
    assert b"<Dial" in after_lock


@on_postgres
def test_commands_run_without_the_request_timeouts():
    # migrate and purge_personal_data may rightly take longer than a webhook may.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    show = "from django.db import connection; c = connection.cursor(); c.execute('SHOW statement_timeout'); "
    show += "print(c.fetchone()[0])"

    command = subprocess.run(  # our own interpreter and script
        [sys.executable, "manage.py", "shell", "-c", show], cwd=PROJECT, env=env, capture_output=True, text=True
    )
    web = subprocess.run(  # the web entry point, as gunicorn loads it
        [sys.executable, "-c", f"import numbermasking.wsgi; {show}"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )

    assert command.stdout.split()[-1] == "0", command.stderr
    assert web.stdout.split()[-1] == "3s", web.stderr
