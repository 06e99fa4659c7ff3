"""A webhook receiver on loopback that keeps connections alive (HTTP/1.1), as real platforms do.

pytest-httpserver answers HTTP/1.0 and closes every connection; tests of
connection reuse need a receiver that does not.
"""

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        receiver: KeepAliveReceiver = self.server.receiver  # type: ignore[attr-defined]
        status = receiver.record(self.client_address[1], dict(self.headers), json.loads(body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class KeepAliveReceiver:
    """Records each request's client port, headers and JSON body; answers ``status_for(body)`` (default 204)."""

    def __init__(self, status_for: Callable[[dict], int] = lambda body: 204) -> None:
        self.status_for = status_for
        self.requests: list[tuple[int, dict, dict]] = []
        self.timed_requests: list[tuple[int, dict, dict, float]] = []  # and when each arrived (time.monotonic())
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.receiver = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def record(self, port: int, headers: dict, body: dict) -> int:
        with self.lock:
            self.requests.append((port, headers, body))
            self.timed_requests.append((port, headers, body, time.monotonic()))
        return self.status_for(body)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/events"

    def __enter__(self) -> "KeepAliveReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


_FLOOD = """
import socket, sys
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
connection, _ = server.accept()
connection.recv(65536)
size = int(sys.argv[1])
connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % size)
chunk, sent = b"x" * (1 << 20), 0
try:
    while sent < size:
        connection.sendall(chunk)
        sent += len(chunk)
except OSError:
    pass
print(sent, flush=True)
"""


@contextlib.contextmanager
def flooding_receiver(size: int) -> Iterator[tuple[str, Callable[[], int]]]:
    """A receiver in a process of its own that answers 200 with a body of ``size`` bytes, as fast as it is read.

    Yields its URL and a function that says how many bytes it managed to send.
    """
    process = subprocess.Popen(  # our own interpreter and code
        [sys.executable, "-c", _FLOOD, str(size)], stdout=subprocess.PIPE, text=True
    )
    port = int(process.stdout.readline())
    try:
        yield f"http://127.0.0.1:{port}/events", lambda: int(process.communicate(timeout=30)[0].strip() or 0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
