"""An order with a store in a real browser at 1280 px (see tests/support/browser.py): the lines, "Close store line"."""

import pytest

from orders import services
from orders.models import Agent, Line, Order, ProxyNumber
from tests.support.browser import run_in_browser, screenshot

from playwright.sync_api import Page, expect  # isort: skip  (after the skip in tests.support.browser)

pytestmark = pytest.mark.django_db(transaction=True)


# The heading's text (not its full-width block), to see whether the buttons run over it.
HEADING = """() => {
    const range = document.createRange();
    range.selectNodeContents(document.querySelector("#content h1"));
    const box = range.getBoundingClientRect();
    return {right: box.right, bottom: box.bottom};
}"""


def close_the_store_line(page: Page, base_url: str, order_pk: int) -> dict:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", "dispatcher")
    page.fill("#id_password", "a-long-dispatcher-password")
    page.click("input[type=submit]")
    page.goto(f"{base_url}/admin/orders/order/{order_pk}/change/")
    seen = {
        "buttons": page.locator(".object-tools button").all_inner_texts(),
        "why": page.inner_text("#close-store-line-why"),
        "apps": page.inner_text(".field-party_apps .readonly"),
        # Nothing wider than the screen: no horizontal scrolling on the order page.
        "page_width": page.evaluate("document.documentElement.scrollWidth"),
        "heading": page.evaluate(HEADING),
        "tools": [item.bounding_box() for item in page.locator(".object-tools li").all()],
        "tools_right": max(
            box["x"] + box["width"] for box in map(lambda b: b.bounding_box(), page.locator(".object-tools li").all())
        ),
    }
    screenshot(page, "admin-order-store.png")
    page.click("form.close-store-line button")
    expect(page.locator(".messagelist .success")).to_be_visible()
    seen["message"] = page.inner_text(".messagelist .success")
    seen["buttons_after"] = page.locator(".object-tools button").all_inner_texts()
    return seen


def test_a_dispatcher_closes_the_store_line_from_the_order_page(live_server, django_user_model):
    django_user_model.objects.create_superuser("dispatcher", "d@example.com", "a-long-dispatcher-password")
    for last in "01":
        ProxyNumber.objects.create(number=f"+141555501{last}0")
    order, _ = services.create_order(
        customer_name="Alice", customer_phone="+14156667777", store_name="Green Grocer", store_phone="+14156667790"
    )
    order = services.assign_agent(order, Agent.objects.create(name="Bob Courier", phone="+14156667778"))

    seen = run_in_browser(close_the_store_line, live_server.url, order.pk)

    # A superuser also sees the click-to-call buttons (disabled without Plivo settings): the widest row of tools.
    assert [button.lower() for button in seen["buttons"]] == [
        "mark picked up",
        "mark delivered",
        "cancel order",
        "close store line",
        "call agent",
        "call customer",
    ]
    assert seen["why"].startswith("Close store line: picked up from the store, no more calls needed.")
    assert "The store's app: the agent: call +1 415 555 0110, code" in seen["apps"]
    assert seen["page_width"] <= 1280 and seen["tools_right"] <= 1280, seen
    assert not any(
        tool["x"] < seen["heading"]["right"] and tool["y"] < seen["heading"]["bottom"] for tool in seen["tools"]
    ), (seen["heading"], seen["tools"])
    assert seen["message"].startswith(f"Store line of order {order.reference} closed")
    assert "close store line" not in [button.lower() for button in seen["buttons_after"]]
    order = Order.objects.get(pk=order.pk)
    assert [line.kind for line in order.live_lines] == [Line.Kind.CUSTOMER_AGENT]
