"""A dispatcher's day in a real browser (see tests/support/browser.py): screenshots go to test-artifacts/.

Log in, create an agent and an order, assign the agent, read the line and
what the customer should dial, mark the order delivered from its page, read
a call's plain result, and open the call simulator from the order.
"""

import pytest

from orders.models import Agent, Order, ProxyNumber
from tests.support.browser import ARTIFACTS, run_in_browser, screenshot
from voice.models import CallRecord

from playwright.sync_api import Page, expect  # isort: skip  (after the skip in tests.support.browser)

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = [
    "dispatcher-home.png",
    "dispatcher-order-assigned.png",
    "dispatcher-order-delivered.png",
    "dispatcher-orders-list.png",
    "dispatcher-call-result.png",
    "dispatcher-simulator.png",
]


def log_in(page: Page, base_url: str, missing: list[str]) -> None:
    page.on("response", lambda response: response.status == 404 and missing.append(response.url))
    page.goto(f"{base_url}/admin/")
    page.fill("#id_username", "dispatcher")
    page.fill("#id_password", "a-long-dispatcher-password")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_have_text("Number masking")


def morning(page: Page, base_url: str) -> dict:
    missing: list[str] = []
    log_in(page, base_url, missing)
    main, related = page.locator("#content-main").bounding_box(), page.locator("#content-related").bounding_box()
    screenshot(page, "dispatcher-home.png")

    page.goto(f"{base_url}/admin/orders/agent/add/")
    page.fill("#id_name", "Bob Courier")
    page.fill("#id_phone", "(415) 666-7778")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_be_visible()

    page.goto(f"{base_url}/admin/orders/order/add/")
    reference_help = page.inner_text(".field-reference .help")
    page.fill("#id_customer_name", "Alice")
    page.fill("#id_customer_phone", "415 666 7777")
    page.click(".field-agent .select2-selection")
    page.fill(".select2-search__field", "Bob")
    page.click(".select2-results__option >> text=Bob Courier")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .info")).to_be_visible()
    seen = {
        "reference_help": reference_help,
        "opened": page.inner_text(".messagelist .info"),
        "customer_app": page.inner_text(".field-customer_app .readonly"),
        "line": page.inner_text(".field-line_state .readonly"),
    }
    screenshot(page, "dispatcher-order-assigned.png")

    page.click("button:has-text('Mark delivered')")
    expect(page.locator(".messagelist .success")).to_be_visible()
    seen["delivered"] = page.inner_text(".messagelist .success")
    seen["line_after"] = page.inner_text(".field-line_state .readonly")
    seen["buttons_after"] = page.locator(".object-tools button").all_inner_texts()
    screenshot(page, "dispatcher-order-delivered.png")

    page.goto(f"{base_url}/admin/orders/order/")
    header = page.locator("th.column-line_live").bounding_box()
    # The results table scrolls inside its own box: the column must end inside that box, on screen.
    visible = page.locator("#changelist .results").bounding_box()
    seen["line_live_visible"] = header["x"] + header["width"] <= min(visible["x"] + visible["width"], 1280)
    screenshot(page, "dispatcher-orders-list.png")
    seen["sidebar_beside_apps"] = related["x"] > main["x"] and related["y"] < main["y"] + 50
    seen["missing"] = missing
    return seen


def afternoon(page: Page, base_url: str, order_pk: int) -> dict:
    missing: list[str] = []
    log_in(page, base_url, missing)
    page.goto(f"{base_url}/admin/orders/order/{order_pk}/change/")
    result = page.inner_text("#calls-group td.field-result")
    screenshot(page, "dispatcher-call-result.png")

    page.click("a.simulate-customer")
    expect(page.locator("#call-summary")).to_be_visible()
    seen = {"result": result, "summary": page.inner_text("#call-summary"), "xml": page.inner_text("#answer-xml")}
    screenshot(page, "dispatcher-simulator.png")
    seen["missing"] = missing
    return seen


def test_a_dispatchers_day_in_the_admin(live_server, django_user_model):
    django_user_model.objects.create_superuser("dispatcher", "d@example.com", "a-long-dispatcher-password")
    ProxyNumber.objects.create(number="+14155550100", label="main")

    seen = run_in_browser(morning, live_server.url)

    order = Order.objects.get()
    assert order.agent == Agent.objects.get(name="Bob Courier")
    assert order.status == Order.Status.DELIVERED and order.is_line_live
    assert "generated" in seen["reference_help"]
    pin = order.masking.pin
    assert seen["opened"] == (
        f"Line open for {order.reference}: the customer's app should show “call +1 415 555 0100, code {pin}”."
    )
    assert seen["customer_app"] == f"call +1 415 555 0100, code {order.masking.pin}"
    assert seen["line"].startswith("live until ") and seen["line"].endswith(" UTC")
    assert seen["delivered"].startswith(f"Order {order.reference} marked delivered. Its line stays open until ")
    assert seen["line_after"].startswith("live for the grace period after delivery, until ")
    # No transition is left; the line is live for the grace period, so click-to-call stays.
    assert seen["buttons_after"] == ["CALL AGENT", "CALL CUSTOMER"]
    assert seen["line_live_visible"]
    assert seen["sidebar_beside_apps"]

    # Plivo reports a call the agent did not pick up.
    CallRecord.objects.create(
        call_uuid="call-1",
        order=order,
        caller_role="customer",
        outcome="connected",
        dial_status="no-answer",
        duration=31,
    )
    later = run_in_browser(afternoon, live_server.url, order.pk)

    assert later["result"] == "no answer"
    assert later["summary"] == f"Would ring Bob Courier for {order.reference}, showing +1 415 555 0100."
    assert "<Dial" in later["xml"] and "14156667778" in later["xml"]
    assert seen["missing"] == later["missing"] == []  # no favicon (or other) 404 on any page
    for name in SCREENSHOTS:
        assert (ARTIFACTS / name).stat().st_size > 0
