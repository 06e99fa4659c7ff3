"""HTTPS in front: Caddy (the Caddyfile), nginx (nginx.conf), gunicorn, as compose's https profile runs them.

With an https PUBLIC_BASE_URL the service redirects plain http and checks
Plivo's signature against the https URL, so right after `docker compose up`
nothing worked without a TLS front. Here Caddy, with its internal CA standing
in for the public one, serves PUBLIC_BASE_URL: a signed Plivo webhook is
answered, and a staff member logs in to the admin, over https.
"""

import http.cookiejar
import os
import re
import secrets
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from tests.support.proxies import CADDY, NGINX, Caddy, Nginx, collect_static
from tests.support.servers import PROJECT, GunicornServer, free_port
from tests.support.webhooks import call_params, plivo_signature
from tests.support.world import CUSTOMER

AUTH_TOKEN = "test-auth-token"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(NGINX), reason="needs Debian's nginx: apt-get install -y nginx"),
    pytest.mark.skipif(not os.path.exists(CADDY), reason="needs Debian's caddy: apt-get install -y caddy"),
]


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(  # our own interpreter and script
        [sys.executable, "manage.py", *args], cwd=PROJECT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def https_front(tmp_path):
    public_base_url = f"https://localhost:{free_port()}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ENV_FILE": "",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PUBLIC_BASE_URL": public_base_url,
        "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
        # A database of its own: gunicorn and the commands share it, whatever the suite runs on.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SUPERUSER_PASSWORD": "a-dispatcher-password",
    }
    manage(env, "migrate", "--no-input")
    manage(env, "seed_demo", "--skip-checks")
    manage(env, "createsuperuser", "--no-input", "--username", "dispatcher", "--email", "d@example.com")
    collect_static(env)
    app = GunicornServer(env, tmp_path / "gunicorn.log", args=["--workers", "1"], public_base_url=public_base_url)
    app.wait_until_up()
    nginx = Nginx(tmp_path, app.port)
    caddy = Caddy(tmp_path, public_base_url, nginx.port)
    yield public_base_url, caddy
    caddy.stop()
    nginx.stop()
    app.stop()


def test_a_signed_webhook_and_the_admin_work_over_https(https_front):
    public_base_url, caddy = https_front
    assert caddy.root_certificate.exists(), caddy.log_path.read_text()
    # Only Caddy's CA is trusted: the certificate must really be Caddy's, for this host.
    context = ssl.create_default_context(cafile=str(caddy.root_certificate))
    cookies = http.cookiejar.CookieJar()
    https = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(cookies)
    )

    # Plivo signs the https URL it calls; the request reaches gunicorn over plain http through two proxies.
    params = call_params(CUSTOMER.lstrip("+"))
    nonce = secrets.token_hex(10)
    url = f"{public_base_url}/voice/answer/"
    signature = plivo_signature(url, nonce, params=params, token=AUTH_TOKEN)
    request = urllib.request.Request(  # noqa: S310 - the local front
        url,
        data=urlencode(params).encode(),
        headers={"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce},
    )
    with https.open(request, timeout=30) as response:
        assert response.status == 200
        assert b"<Dial" in response.read()

    # The admin: the login page (with its static files), then a login with the CSRF check's secure cookie.
    with https.open(f"{public_base_url}/admin/login/?next=/admin/", timeout=30) as response:
        assert response.status == 200
        page = response.read().decode()
    (token,) = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert {cookie.name: cookie.secure for cookie in cookies}["csrftoken"] is True
    (stylesheet,) = re.findall(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
    with https.open(f"{public_base_url}{stylesheet}", timeout=30) as response:
        assert response.status == 200

    login = urllib.request.Request(  # noqa: S310 - the local front
        f"{public_base_url}/admin/login/?next=/admin/",
        data=urlencode(
            {
                "csrfmiddlewaretoken": token,
                "username": "dispatcher",
                "password": "a-dispatcher-password",
                "next": "/admin/",
            }
        ).encode(),
        headers={"Referer": f"{public_base_url}/admin/login/"},
    )
    with https.open(login, timeout=30) as response:
        assert (response.status, response.url) == (200, f"{public_base_url}/admin/")
        assert "Log out" in response.read().decode()

    # Plain http to the TLS port is refused: nothing is served without TLS.
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://localhost:{caddy.port}/healthz", timeout=5)  # noqa: S310
