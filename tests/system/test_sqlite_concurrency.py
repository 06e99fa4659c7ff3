"""The embedded SQLite default holds under fifteen concurrent API clients.

With SQLite's own defaults (rollback journal, deferred transactions) a
transaction that turned into a writer while another wrote got "database is
locked" at once: fifteen clients creating, assigning and delivering orders
saw almost every assignment answered 503. The settings now use WAL,
IMMEDIATE transactions and a busy timeout; here fifteen threads drive the
real service under gunicorn (fifteen requests at a time) on a file database.
"""

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
from django.db import connection

from tests.support.servers import PROJECT, GunicornServer

CLIENTS = 15
ORDERS_PER_CLIENT = 4

on_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="checks the SQLite default")


def environment(database: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ENV_FILE": "",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PUBLIC_BASE_URL": "http://masking.example.com",
        "DATABASE_URL": f"sqlite:///{database}",
        "LOG_LEVEL": "WARNING",
        "API_THROTTLE_RATE": "100000/min",
    }


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # our own interpreter and script
        [sys.executable, "manage.py", *args], cwd=PROJECT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def call(server: GunicornServer, key: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - the local server
        server.url(path),
        data=json.dumps(body).encode() if body is not None else b"",
        method=method,
        headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@on_sqlite
def test_fifteen_concurrent_writers_through_the_api_get_no_503(tmp_path):
    env = environment(str(tmp_path / "db.sqlite3"))
    manage(env, "migrate", "--no-input")
    manage(env, "seed_demo", "--skip-checks")
    key = manage(env, "create_api_key", "dispatch")
    # Fifteen requests at a time, as fifteen clients send them.
    server = GunicornServer(env, tmp_path / "gunicorn.log", args=["--workers", "3", "--threads", "5"])
    try:
        server.wait_until_up()
        statuses: Counter[tuple[str, int]] = Counter()
        lock = threading.Lock()
        start = threading.Barrier(CLIENTS)

        def client(number: int) -> None:
            start.wait()
            for index in range(ORDERS_PER_CLIENT):
                reference = f"C{number:02d}-{index}"
                phone = f"+1415666{number:02d}{index:02d}"
                steps = [
                    (
                        "create",
                        "POST",
                        "/api/v1/orders/",
                        {"reference": reference, "customer_name": "Sam", "customer_phone": phone},
                    ),
                    ("assign", "POST", f"/api/v1/orders/{reference}/assign/", {"agent": 1 + number % 3}),
                    ("picked-up", "POST", f"/api/v1/orders/{reference}/picked-up/", None),
                    ("delivered", "POST", f"/api/v1/orders/{reference}/delivered/", None),
                ]
                for step, method, path, body in steps:
                    status, _ = call(server, key, method, path, body)
                    with lock:
                        statuses[step, status] += 1

        threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        server.stop()

    print(f"{CLIENTS} clients, {sum(statuses.values())} requests in {elapsed:.1f} s: {dict(statuses)}")
    orders = CLIENTS * ORDERS_PER_CLIENT
    assert statuses == {
        ("create", 201): orders,
        ("assign", 200): orders,
        ("picked-up", 200): orders,
        ("delivered", 200): orders,
    }, server.log.read_text()[-3000:]
