"""The event benchmark's receiver, in a process of its own so that it shares no interpreter lock with what
it measures: HTTP/1.1 with keep-alive, as a platform's endpoint would be.

    python -m bench.receiver        (prints its port, then serves until killed)

POST anything: 204, and the arrival time of its ``webhook-id`` is kept. GET /arrivals: those times as JSON
(``{id: time.time()}``); DELETE /arrivals forgets them.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

arrivals: dict[str, float] = {}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        with lock:
            arrivals.setdefault(self.headers["webhook-id"], time.time())
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        with lock:
            body = json.dumps(arrivals).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_DELETE(self) -> None:  # noqa: N802
        with lock:
            arrivals.clear()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
