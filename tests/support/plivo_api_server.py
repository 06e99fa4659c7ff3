"""A stand-in for Plivo's Call API: a real HTTP server on loopback, with an adjustable delay and answer.

For what ``responses`` cannot show: real sockets and timeouts, and requests
from other processes (a gunicorn server, a ``manage.py worker``), which reach it
through ``PLIVO_API_URL``. It serves ``POST /v1/Account/{auth_id}/Call/`` as
Plivo does (201 with a ``request_uuid``; an ``{"error": ...}`` body
otherwise), checks the Basic credentials, and records every request it gets,
whatever it answers.
"""

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings

# What Plivo says with each refusal or failure (the 5xx bodies of a load balancer are not JSON).
ERROR_BODIES = {
    400: {"error": "destination number not allowed by geo permissions"},
    401: {"error": "Authentication failed"},
    500: {"error": "internal error"},
}


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    fields: dict  # the JSON body the SDK sent
    arrived: float  # time.monotonic()


class PlivoAPIServer:
    """Plivo's Call API on a free loopback port. Set ``delay`` (seconds before answering) and ``status``."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.status = 201
        self.error_body: dict | None = None  # instead of ERROR_BODIES' for the status
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True  # a request still waiting out its delay does not hold up stop()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.call_path = f"/v1/Account/{settings.PLIVO_AUTH_ID}/Call/"
        # The account's credentials as the suite configures them, whatever a test changes later.
        credentials = f"{settings.PLIVO_AUTH_ID}:{settings.PLIVO_AUTH_TOKEN}".encode()
        self.authorization = "Basic " + base64.b64encode(credentials).decode()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "PlivoAPIServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def calls(self) -> list[ReceivedRequest]:
        """The Call API requests received so far, whatever they were answered."""
        with self._lock:
            return [request for request in self.requests if request.path == self.call_path]

    def wait_for_calls(self, count: int, timeout: float) -> list[ReceivedRequest]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.calls

    def _answer(self, method: str, path: str, fields: dict, authorization: str) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(ReceivedRequest(method, path, fields, time.monotonic()))
            delay, status, error_body = self.delay, self.status, self.error_body
        time.sleep(delay)
        if path != self.call_path or method != "POST":
            return 404, {"api_id": "stand-in", "error": "not found"}
        if authorization != self.authorization:
            return 401, {"api_id": "stand-in", **ERROR_BODIES[401]}
        if status == 201:
            return 201, {"api_id": "stand-in", "message": "call fired", "request_uuid": str(uuid.uuid4())}
        return status, {"api_id": "stand-in", **(error_body or ERROR_BODIES.get(status, {}))}


def _handler(server: PlivoAPIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                fields = json.loads(body) if body else {}
            except ValueError:
                fields = {}
            status, answer = server._answer("POST", self.path, fields, self.headers.get("Authorization", ""))
            self._send(status, answer)

        def do_GET(self) -> None:
            self._send(*server._answer("GET", self.path, {}, self.headers.get("Authorization", "")))

        def _send(self, status: int, answer: dict) -> None:
            payload = (
                json.dumps(answer).encode() if answer.get("error") or status < 300 else b"<html>Bad gateway</html>"
            )
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if payload.startswith(b"{") else "text/html")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (its read timeout): as with Plivo, the request still arrived

        def log_message(self, format: str, *args: object) -> None:
            pass  # the test asserts on ``requests``; a line per request is noise

    return Handler
