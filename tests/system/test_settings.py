"""numbermasking/settings.py read from a clean environment, in a fresh interpreter each time."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
KEYS = [
    "DEBUG",
    "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "CSRF_TRUSTED_ORIGINS",
    "PLIVO_VALIDATE_SIGNATURES",
    "MASKING_SUPPORT_NUMBER",
]
SCRIPT = (
    "import json, numbermasking.settings as s; "
    f"print(json.dumps({{k: getattr(s, k, None) for k in {KEYS!r}}} | {{'ENGINE': s.DATABASES['default']['ENGINE']}}))"
)


def import_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    # Our own script and interpreter: nothing untrusted reaches the command line.
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", SCRIPT],
        env={"ENV_FILE": "", **env},
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )


def load_settings(**env: str) -> dict:
    # Every variable is given, so a developer's .env (read with setdefault) cannot leak in.
    base = {
        "PATH": os.environ.get("PATH", ""),
        "SECRET_KEY": "x" * 50,
        "DEBUG": "false",
        "DATABASE_URL": "sqlite:////tmp/mask-settings-test.sqlite3",
        "PUBLIC_BASE_URL": "http://localhost:8000",
        "ALLOWED_HOSTS": "localhost",
        "PLIVO_VALIDATE_SIGNATURES": "true",
        "MASKING_SUPPORT_NUMBER": "",
    }
    result = import_settings({**base, **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_an_https_public_url_turns_on_https_hardening():
    loaded = load_settings(PUBLIC_BASE_URL="https://masking.example.com")

    assert loaded["SECURE_SSL_REDIRECT"] is True
    assert loaded["SECURE_HSTS_SECONDS"] > 0
    assert loaded["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert loaded["SESSION_COOKIE_SECURE"] is loaded["CSRF_COOKIE_SECURE"] is True
    assert loaded["CSRF_TRUSTED_ORIGINS"] == ["https://masking.example.com"]
    assert "masking.example.com" in loaded["ALLOWED_HOSTS"]
    # The load balancer probes /healthz, and Prometheus scrapes each host's /metrics, over plain http.
    assert loaded["SECURE_REDIRECT_EXEMPT"] == ["^healthz$", "^metrics$"]


@pytest.mark.parametrize("debug", ["false", "true"])
def test_a_plain_http_public_url_never_redirects_whatever_debug_says(debug):
    loaded = load_settings(PUBLIC_BASE_URL="http://localhost:8000", DEBUG=debug)

    assert loaded["DEBUG"] is (debug == "true")
    assert loaded["SECURE_SSL_REDIRECT"] is None
    assert loaded["SESSION_COOKIE_SECURE"] is None


def test_the_database_is_sqlite_unless_database_url_says_otherwise():
    assert "sqlite3" in load_settings()["ENGINE"]
    assert "postgresql" in load_settings(DATABASE_URL="postgres://u@db:5432/masking")["ENGINE"]


def test_signature_validation_is_on_unless_switched_off():
    assert load_settings()["PLIVO_VALIDATE_SIGNATURES"] is True
    assert load_settings(PLIVO_VALIDATE_SIGNATURES="false")["PLIVO_VALIDATE_SIGNATURES"] is False
    assert load_settings(DEBUG="true", PLIVO_VALIDATE_SIGNATURES="true")["PLIVO_VALIDATE_SIGNATURES"] is True


def test_a_secret_key_is_required_when_debug_is_off():
    env = {"PATH": os.environ.get("PATH", ""), "DEBUG": "false", "DATABASE_URL": "sqlite:////tmp/x.sqlite3"}

    result = import_settings(env)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
