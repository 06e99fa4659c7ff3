"""Two gunicorn processes on one Postgres: the web tier keeps no state of its own."""

import http.cookiejar
import os
import re
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection

from orders.models import Agent, Order, ProxyNumber
from tests.support.servers import GunicornServer, database_url
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="two servers need a database server to share"),
    # Committed data: the servers read it through their own connections.
    pytest.mark.django_db(transaction=True),
]


class Server(GunicornServer):
    """One gunicorn process of the service under tests.settings, with its own cookies."""

    def __init__(self, log: Path) -> None:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "WEB_CONCURRENCY": "1",
        }
        super().__init__(environment, log)
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def ready(self) -> bool:
        return super().ready() and self.request("/healthz")[0] == 200

    def admin_post(self, path: str, data: dict) -> str:
        token = next(cookie.value for cookie in self.cookies if cookie.name == "csrftoken")
        status, body = self.request(path, {"csrfmiddlewaretoken": token, **data})
        assert status == 200
        return body.decode()

    def submit_admin_form(self, path: str, data: dict) -> str:
        """Post an admin page's form as a browser would: its hidden fields (inline management forms) plus ``data``."""
        page = self.opener.open(self.url(path), timeout=10).read().decode()
        hidden = {}
        for tag in re.findall(r"<input[^>]*>", page):
            attributes = dict(re.findall(r'(\w+)="([^"]*)"', tag))
            if attributes.get("type") == "hidden" and "name" in attributes:
                hidden[attributes["name"]] = attributes.get("value", "")
        body = self.admin_post(path, {**hidden, **data})
        assert "errorlist" not in body, re.findall(r'class="errorlist[^"]*">(.*?)</ul>', body)
        return body

    def log_in(self, username: str, password: str) -> None:
        self.opener.open(self.url("/admin/login/"), timeout=10).read()
        body = self.admin_post("/admin/login/?next=/admin/", {"username": username, "password": password})
        assert "Log out" in body or "logout" in body

    def answer(self, caller: str) -> str:
        status, body = self.signed_answer(caller)
        assert status == 200
        return body.decode()


@pytest.fixture
def servers(tmp_path):
    first, second = Server(tmp_path / "first.log"), Server(tmp_path / "second.log")
    try:
        first.wait_until_up()
        second.wait_until_up()
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_an_agent_assigned_on_one_server_is_dialled_by_the_other_and_a_cancellation_is_seen_at_once(servers):
    first, second = servers
    ProxyNumber.objects.create(number=PROXY)
    agent = Agent.objects.create(name="Bob", phone=AGENT_PHONE)
    order = Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER)
    User.objects.create_superuser("staff", "", "staff-password")
    first.log_in("staff", "staff-password")
    second.log_in("staff", "staff-password")

    first.submit_admin_form(
        f"/admin/orders/order/{order.pk}/change/",
        {"customer_name": "Alice", "customer_phone": CUSTOMER, "agent": agent.pk, "_save": "Save"},
    )

    assert "<Number>14156667778</Number>" in second.answer("14156667777")
    assert "<Number>14156667777</Number>" in second.answer("14156667778")

    second.submit_admin_form(
        "/admin/orders/order/",
        {"action": "cancel", "_selected_action": order.pk, "index": 0, "select_across": 0},
    )

    assert "<Dial" not in first.answer("14156667777")
    assert re.search(r"<Speak[^>]*>Sorry, we could not find an active delivery", first.answer("14156667778"))
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
