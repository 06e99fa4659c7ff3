"""The admin's call simulator shows a party's real number: only staff who may see orders may use it."""

import pytest
from django.contrib.auth.models import Permission, User

from .conftest import AGENT_PHONE, CUSTOMER, PROXY

pytestmark = pytest.mark.django_db

URL = f"/admin/call-simulator/?caller={CUSTOMER.lstrip('+')}&proxy_number={PROXY.lstrip('+')}"


def staff(client, *permissions: str):
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    client.force_login(user)
    return client


def test_staff_without_the_order_view_permission_are_refused(client, live_order):
    browser = staff(client)

    response = browser.get(URL)
    home = browser.get("/admin/")

    assert response.status_code == 403
    assert AGENT_PHONE.lstrip("+").encode() not in response.content
    assert b"call-simulator" not in home.content


def test_staff_who_may_view_orders_see_the_dial_xml(client, live_order):
    browser = staff(client, "view_order")

    response = browser.get(URL)
    home = browser.get("/admin/")

    assert response.status_code == 200
    assert AGENT_PHONE.lstrip("+").encode() in response.content
    assert b"call-simulator" in home.content


def test_anonymous_visitors_are_sent_to_the_login_page(client, live_order):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
