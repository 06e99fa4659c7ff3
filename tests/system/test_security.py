"""Production settings, admin access and CSRF.

Settings tests start ``manage.py`` in a subprocess with a clean environment,
as a deployment would, so nothing from the test settings leaks in.
"""

import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from orders.models import Order
from tests.support.admin_forms import admin_post_data

PROJECT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "PUBLIC_BASE_URL": "https://masking.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env={"PATH": "/usr/bin:/bin", "ENV_FILE": "", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def released() -> None:
    """The static files collected, as the Procfile's release step leaves a deployment (orders.E008 checks it)."""
    result = manage("collectstatic", "--no-input", "-v", "0", **PRODUCTION)
    assert result.returncode == 0, result.stderr


def test_the_deploy_check_passes_with_just_the_key_the_https_url_and_the_plivo_token(released):
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, PLIVO_AUTH_TOKEN="token")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_without_the_plivo_token_the_deploy_check_warns_about_that_alone(released):
    # The token is no security setting but without it every call is refused,
    # which is what a pre-deploy check is for: the warning stays.
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode != 0
    assert re.findall(r"\((\w+\.\w+)\)", result.stderr) == ["voice.W001"]
    assert "PLIVO_AUTH_TOKEN is not set" in result.stderr


def test_the_deploy_check_fails_when_webhook_signatures_are_switched_off(released):
    env = {**PRODUCTION, "PLIVO_AUTH_TOKEN": "token", "PLIVO_VALIDATE_SIGNATURES": "false"}

    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)

    assert result.returncode != 0
    assert re.findall(r"\((\w+\.\w+)\)", result.stderr) == ["voice.W002"]


@pytest.mark.parametrize("secret_key", [None, ""])
def test_start_up_fails_clearly_without_a_secret_key_when_debug_is_off(secret_key):
    env = {**PRODUCTION, "SECRET_KEY": secret_key}
    if secret_key is None:
        del env["SECRET_KEY"]

    result = manage("check", **env)

    assert result.returncode != 0
    assert "SECRET_KEY is not set. It is required whenever DEBUG is off" in result.stderr


def test_debug_runs_without_a_secret_key_for_local_development():
    result = manage("check", DEBUG="true")

    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/", "/admin/orders/order/", "/admin/orders/order/add/"])
def test_the_admin_sends_anyone_but_staff_to_the_login_page(client, path):
    User.objects.create_user("courier", password="not-staff-pw-123")
    anonymous = client.get(path)
    client.login(username="courier", password="not-staff-pw-123")
    not_staff = client.get(path)

    for response in (anonymous, not_staff):
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_the_admin_refuses_a_post_without_a_csrf_token(admin_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    form = {"customer_name": "Mallory's victim", "customer_phone": "+14156667777", "reference": "CSRF1"}

    page = browser.get("/admin/orders/order/add/")
    form = admin_post_data(page, **form)
    forged = browser.post("/admin/orders/order/add/", form)
    genuine = browser.post("/admin/orders/order/add/", {**form, "csrfmiddlewaretoken": str(page.context["csrf_token"])})

    assert forged.status_code == 403
    assert genuine.status_code == 302
    assert list(Order.objects.values_list("reference", "customer_phone")) == [("CSRF1", "+14156667777")]


def test_the_root_url_leads_to_the_admin(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
