"""The admin in a real browser (see tests/support/browser.py, which skips this module without Chromium).

Screenshots of the order page and the call simulator are kept in
test-artifacts/ (git-ignored).
"""

import re
import xml.etree.ElementTree as ET

import pytest

from orders.models import Agent, Order, ProxyNumber
from tests.support.browser import ARTIFACTS, run_in_browser, screenshot

from playwright.sync_api import Page, expect  # isort: skip  (after the skip in tests.support.browser)

pytestmark = pytest.mark.django_db(transaction=True)


def save(page: Page, button: str = "_save") -> None:
    page.click(f"input[name={button}]")
    expect(page.locator(".messagelist .success")).to_be_visible()


def staff_workflow(page: Page, base_url: str) -> dict[str, str]:
    page.goto(f"{base_url}/admin/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "a-long-staff-password")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()

    page.goto(f"{base_url}/admin/orders/proxynumber/add/")
    page.fill("#id_number", "+14155550100")
    page.fill("#id_label", "main")
    save(page)

    page.goto(f"{base_url}/admin/orders/agent/add/")
    page.fill("#id_name", "Bob Courier")
    page.fill("#id_phone", "(415) 666-7778")
    save(page)

    page.goto(f"{base_url}/admin/orders/order/add/")
    page.fill("#id_customer_name", "Alice")
    page.fill("#id_customer_phone", "415 666 7777")
    save(page, "_continue")

    # The agent field is an autocomplete (select2) widget fed by the admin's JSON view.
    page.click(".field-agent .select2-selection")
    page.fill(".select2-search__field", "Bob")
    page.click(".select2-results__option >> text=Bob Courier")
    save(page, "_continue")

    proxy_shown = page.inner_text(".field-proxy_number .readonly")
    pin_shown = page.inner_text(".field-pin .readonly")
    screenshot(page, "admin-order.png")

    page.goto(f"{base_url}/admin/orders/order/")
    page.check("input.action-select")
    page.select_option("select[name=action]", "mark_delivered")
    page.click("button[name=index]")
    delivered_message = page.inner_text(".messagelist .success")

    page.goto(f"{base_url}/admin/")
    page.click("#masking-tools a >> text=Call simulator")
    page.fill("#id_caller", "14156667777")
    page.fill("#id_proxy_number", "14155550100")
    page.click("input[type=submit][value='Simulate call']")
    simulated_xml = page.inner_text("#answer-xml")
    screenshot(page, "call-simulator.png")

    return {"proxy": proxy_shown, "pin": pin_shown, "delivered": delivered_message, "xml": simulated_xml}


def test_staff_open_and_close_a_masked_line_in_the_admin(live_server, django_user_model):
    django_user_model.objects.create_superuser("staff", "staff@example.com", "a-long-staff-password")

    seen = run_in_browser(staff_workflow, live_server.url)

    order = Order.objects.get()
    assert order.agent == Agent.objects.get(name="Bob Courier")
    assert order.masking.proxy_number == ProxyNumber.objects.get(number="+14155550100")
    assert str(order.customer_phone) == "+14156667777"
    assert order.status == Order.Status.DELIVERED
    assert order.is_line_live  # the grace period after delivery
    assert "+14155550100" in seen["proxy"]
    assert seen["pin"] == order.masking.pin and re.fullmatch(r"\d{4}", order.masking.pin)
    assert seen["delivered"] == "1 order(s) marked delivered."
    dial = ET.fromstring(seen["xml"]).find("Dial")
    assert (dial.get("callerId"), dial.find("Number").text) == ("14155550100", "14156667778")
    assert (ARTIFACTS / "admin-order.png").stat().st_size > 0
