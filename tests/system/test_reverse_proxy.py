"""nginx in front of gunicorn, with the repository's nginx.conf, as docker-compose.yml runs it.

gunicorn's sync workers each hold one connection: a few clients trickling one
header line every five seconds stalled every call (31 s, the worker timeout).
nginx reads whole requests before gunicorn sees them, so the trickle costs
nginx connections only.
"""

import os
import secrets
import socket
import threading
import time
import urllib.request
from urllib.parse import urlencode

import pytest
from django.db import connection

from tests.support.proxies import NGINX, Nginx
from tests.support.servers import GunicornServer
from tests.support.webhooks import call_params, plivo_signature
from tests.support.world import CUSTOMER

PUBLIC_BASE_URL = "http://masking.example.com"
AUTH_TOKEN = "test-auth-token"
SLOW_CLIENTS = 16
TRICKLE_EVERY = 5  # seconds between one header line and the next

pytestmark = [
    pytest.mark.skipif(not os.path.exists(NGINX), reason="needs Debian's nginx: apt-get install -y nginx"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="gunicorn needs a database server to share"),
    pytest.mark.django_db(transaction=True),
]


def trickle(port: int, stop: threading.Event, opened: threading.Semaphore) -> None:
    """A client that sends its request one header line every TRICKLE_EVERY seconds, never finishing."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: masking.example.com\r\n")
        opened.release()
        while not stop.wait(TRICKLE_EVERY):
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                return


def signed_answer_time(port: int) -> float:
    params = call_params(CUSTOMER.lstrip("+"))
    nonce = secrets.token_hex(10)
    signature = plivo_signature(PUBLIC_BASE_URL + "/voice/answer/", nonce, params=params, token=AUTH_TOKEN)
    request = urllib.request.Request(  # noqa: S310 - local server
        f"http://127.0.0.1:{port}/voice/answer/",
        data=urlencode(params).encode(),
        headers={"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce, "Host": "masking.example.com"},
    )
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=40) as response:  # noqa: S310
        assert response.status == 200
        assert b"<Dial" in response.read()
    return time.monotonic() - started


@pytest.fixture
def stack(tmp_path, live_order):
    db = connection.settings_dict
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "LOG_LEVEL": "WARNING",
    }
    # No --workers: as many sync workers as gunicorn.conf.py gives on this machine.
    app = GunicornServer(env, tmp_path / "gunicorn.log", public_base_url=PUBLIC_BASE_URL, auth_token=AUTH_TOKEN)
    app.wait_until_up()
    nginx = Nginx(tmp_path, app.port)
    yield nginx
    nginx.stop()
    app.stop()


def test_slow_clients_do_not_delay_a_signed_answer_through_nginx(stack):
    for _ in range(5):  # every worker booted and connected
        signed_answer_time(stack.port)
    baseline = min(signed_answer_time(stack.port) for _ in range(3))

    stop, opened = threading.Event(), threading.Semaphore(0)
    clients = [threading.Thread(target=trickle, args=(stack.port, stop, opened)) for _ in range(SLOW_CLIENTS)]
    for client in clients:
        client.start()
    for _ in clients:
        assert opened.acquire(timeout=10)
    try:
        time.sleep(TRICKLE_EVERY + 1)  # each slow client has sent a second line
        during = [signed_answer_time(stack.port) for _ in range(5)]
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=15)

    delay = max(during) - baseline
    print(
        f"{SLOW_CLIENTS} slow clients: signed answer {baseline * 1000:.0f} ms alone, worst {max(during) * 1000:.0f} ms"
    )
    assert delay < 1.0
