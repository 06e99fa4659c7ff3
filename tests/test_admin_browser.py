"""The admin in a real browser: headless Debian Chromium driven by Playwright.

To run it: `apt-get install -y chromium` (Playwright's own browser download
is not used) and `pip install -r requirements-dev.txt`; .ci/run installs
Chromium when it is missing. A screenshot of the order page is kept in
test-artifacts/ (git-ignored).

Playwright's sync API runs an event loop in the thread that drives it, and
Django refuses ORM calls from such a thread; the browser therefore runs in a
worker thread and the test thread keeps the database.
"""

import os
import re
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from orders.models import Agent, Order, ProxyNumber

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
HOW_TO_ENABLE = "apt-get install -y chromium && pip install -r requirements-dev.txt"

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:
    pytest.skip(f"Playwright is not installed; to run browser tests: {HOW_TO_ENABLE}", allow_module_level=True)
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"{CHROMIUM} is missing; to run browser tests: {HOW_TO_ENABLE}", allow_module_level=True)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_browser(flow, *args):
    """Run ``flow(page, *args)`` in a headless Chromium on a worker thread; return its result."""

    def drive():
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.set_default_timeout(20_000)
                return flow(page, *args)
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(drive).result()


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
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-order.png"), full_page=True)

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
    page.screenshot(path=str(ARTIFACTS / "call-simulator.png"), full_page=True)

    return {"proxy": proxy_shown, "pin": pin_shown, "delivered": delivered_message, "xml": simulated_xml}


def test_staff_open_and_close_a_masked_line_in_the_admin(live_server, django_user_model):
    django_user_model.objects.create_superuser("staff", "staff@example.com", "a-long-staff-password")

    seen = run_in_browser(staff_workflow, live_server.url)

    order = Order.objects.get()
    assert order.agent == Agent.objects.get(name="Bob Courier")
    assert order.proxy_number == ProxyNumber.objects.get(number="+14155550100")
    assert str(order.customer_phone) == "+14156667777"
    assert order.status == Order.Status.DELIVERED
    assert order.is_line_live  # the grace period after delivery
    assert "+14155550100" in seen["proxy"]
    assert seen["pin"] == order.pin and re.fullmatch(r"\d{4}", order.pin)
    assert seen["delivered"] == "1 order(s) marked delivered."
    dial = ET.fromstring(seen["xml"]).find("Dial")
    assert (dial.get("callerId"), dial.find("Number").text) == ("14155550100", "14156667778")
    assert (ARTIFACTS / "admin-order.png").stat().st_size > 0
