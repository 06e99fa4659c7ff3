"""The real service under gunicorn on a free loopback port, for tests that talk to it over HTTP."""

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection

from .webhooks import call_params, plivo_signature
from .world import CUSTOMER

PROJECT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GunicornServer:
    """One gunicorn process of the service, started with exactly ``env``, its output in ``log``.

    It signs Plivo requests as ``public_base_url`` with ``auth_token`` (default: the suite's settings).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log: Path,
        *,
        args: Sequence[str] = (),
        public_base_url: str | None = None,
        auth_token: str | None = None,
    ) -> None:
        self.port = free_port()
        self.public_base_url = public_base_url or settings.PUBLIC_BASE_URL
        self.auth_token = auth_token
        self.log = log
        self._log = log.open("w")
        self.process = subprocess.Popen(  # our own interpreter and arguments
            [sys.executable, "-m", "gunicorn", "numbermasking.wsgi", "--bind", f"127.0.0.1:{self.port}", *args],
            cwd=PROJECT,
            env={"ENV_FILE": "", **env},  # never a developer's .env
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.opener = urllib.request.build_opener()

    def wait_until_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            if self.ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn on port {self.port} did not come up")

    def ready(self) -> bool:
        """Listening: connections are accepted (a subclass may ask for more, such as a healthy /healthz)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, path: str, data: dict | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        """GET ``path``, or POST ``data`` form-encoded; an error status is returned, not raised."""
        body = None if data is None else urlencode(data).encode()
        request = urllib.request.Request(self.url(path), data=body, headers=headers or {})  # noqa: S310 (local)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def signed_post(self, path: str, data: dict) -> tuple[int, bytes]:
        nonce = secrets.token_hex(10)
        signature = plivo_signature(self.public_base_url + path, nonce, params=data, token=self.auth_token)
        return self.request(path, data, {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce})

    def signed_answer(self, caller: str = CUSTOMER) -> tuple[int, bytes]:
        return self.signed_post("/voice/answer/", call_params(caller.lstrip("+")))


def database_url() -> str:
    """The test database as a DATABASE_URL, for the processes a test starts (Postgres: they share its rows)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(log: Path, timeout: float = 2) -> subprocess.Popen:
    """``manage.py worker`` on the test database, its output in ``log``; ``timeout`` bounds each delivery."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "EVENTS_DELIVERY_TIMEOUT": str(timeout),
        "EVENTS_SWEEP_INTERVAL": "1",
        "EVENTS_ORPHAN_AFTER": "3",
    }
    command = [sys.executable, "manage.py", "worker"]
    return subprocess.Popen(command, cwd=PROJECT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
