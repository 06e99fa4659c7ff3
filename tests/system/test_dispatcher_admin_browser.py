"""The admin as a dispatcher finds it, in a real browser at 1280 px (tests/browser.py skips this module
without Chromium): webhook endpoints, call records, one word per call result, the dashboard, the menu,
click-to-call without Plivo, the simulator and the small texts, and axe-core on the project's templates.

Screenshots go to test-artifacts/admin-*.png. axe-core is vendored (tests/support/axe/, version in its
README); it runs on the elements our templates render, not on Django's own pages.
"""

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from orders import services
from orders.events.models import EventType, WebhookEndpoint
from orders.models import Agent, BlockedNumber, Order, ProxyNumber
from tests.support.browser import ARTIFACTS, run_in_browser, screenshot
from voice.models import CallRecord

from playwright.sync_api import Page, expect  # isort: skip  (after the skip in ..browser)

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).resolve().parent.parent / "support" / "axe" / "axe.min.js"
PASSWORD = "a-long-test-password"
Outcome = CallRecord.Outcome

# Elements each page's own template renders (templates/ and our admin classes); Django's pages have
# violations of their own that are not ours to fix.
OURS = {
    "home": ["#dashboard", "#masking-tools"],
    "dashboard": ["#content", ".breadcrumbs"],
    "endpoint": [".field-receives", ".field-event_types", ".breadcrumbs"],
    "order": [".object-tools", "#click-to-call-off", ".field-simulate", ".breadcrumbs"],
    "simulator": ["#content", ".breadcrumbs"],
}


def axe(page: Page, name: str, found: dict[str, list]) -> None:
    """Run axe-core on ``OURS[name]`` of the open page; record its violations under ``name``."""
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async (selectors) => {
            const include = selectors.filter((selector) => document.querySelector(selector));
            const results = await axe.run({include}, {resultTypes: ["violations"]});
            return results.violations.map((v) => ({id: v.id, nodes: v.nodes.map((n) => n.target.join(" "))}));
        }""",
        OURS[name],
    )
    found[name] = found.get(name, []) + violations


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()


def chart_texts(page: Page, index: int) -> list[str]:
    chart = page.locator("#dashboard-panel svg.pygal-chart").nth(index)
    return chart.locator("text").evaluate_all("(texts) => texts.map((text) => text.textContent)")


def an_empty_dashboard(page: Page, base_url: str) -> dict:
    log_in(page, base_url, "dispatcher")
    page.goto(f"{base_url}/admin/dashboard/")
    found: dict[str, list] = {}
    axe(page, "dashboard", found)
    screenshot(page, "admin-dashboard-empty.png")
    return {"texts": chart_texts(page, 0) + chart_texts(page, 1), "axe": found}


LEGEND_BOXES = """(svg) => Array.from(svg.querySelectorAll("g.legend")).map((legend) => {
    const text = legend.querySelector("text"), swatch = legend.querySelector("rect");
    const box = text.getBBox();
    return {label: text.textContent, x: box.x, y: box.y, right: box.x + box.width,
            fill: getComputedStyle(swatch).fill, full: text.getComputedTextLength()};
})"""
WIDEST_BAR = """(svg) => Math.max(...Array.from(svg.querySelectorAll("rect.rect")).map(
    (bar) => bar.getBoundingClientRect().width))"""
CLIPPED = """(cell) => cell.scrollWidth > cell.clientWidth"""


def right_edge_on_screen(page: Page, selector: str) -> bool:
    """Whether the column ends inside the results box (it scrolls on its own) and on a 1280 px screen."""
    column = page.locator(selector).first.bounding_box()
    results = page.locator("#changelist .results").bounding_box()
    return column["x"] + column["width"] <= min(results["x"] + results["width"], 1280) + 0.5


def a_dispatchers_admin(page: Page, base_url: str, order_pk: int) -> dict:
    found: dict[str, list] = {}
    seen: dict[str, object] = {}
    log_in(page, base_url, "dispatcher")

    # 9. The dashboard comes first on the home page; legends whole and apart; the week as bars.
    expect(page.locator("#dashboard-panel svg.pygal-chart")).to_have_count(3)
    seen["dashboard_above_apps"] = (
        page.locator("#dashboard").bounding_box()["y"] < page.locator("#content-main .app-orders").bounding_box()["y"]
    )
    charts = page.locator("#dashboard-panel svg.pygal-chart")
    seen["legends"] = [charts.nth(index).evaluate(LEGEND_BOXES) for index in range(2)]
    seen["widest_week_bar"] = charts.nth(1).evaluate(WIDEST_BAR)
    seen["day_texts"] = chart_texts(page, 0)
    axe(page, "home", found)
    screenshot(page, "admin-home.png")

    # 10. The menu in the dispatcher's words.
    seen["menu"] = page.locator("#content-main .module caption, #content-main .module th").all_inner_texts()
    page.goto(f"{base_url}/admin/orders/event/")
    seen["event_filter"] = page.inner_text("#changelist-filter")
    seen["event_types_listed"] = page.locator("td.field-type").all_inner_texts()
    screenshot(page, "admin-events.png")

    # 6. A webhook endpoint's event types: ticks from the catalogue, "every type" a choice of its own.
    page.goto(f"{base_url}/admin/orders/webhookendpoint/add/")
    seen["endpoint_choices"] = page.locator("#id_event_types label").all_inner_texts()
    seen["endpoint_receives"] = page.locator("#id_receives label").all_inner_texts()
    page.fill("#id_url", "https://93.184.216.34/masking-events")
    page.check("input[name=receives][value=some]")
    page.check("input[name=event_types][value='call.missed']")
    page.check("input[name=event_types][value='line.opened']")
    axe(page, "endpoint", found)
    screenshot(page, "admin-webhook-endpoint-form.png")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    seen["endpoint_list"] = page.locator("td.field-types_received").all_inner_texts()

    # 7. Call records: a result filter; the call UUID column on screen at 1280 px.
    page.goto(f"{base_url}/admin/voice/callrecord/")
    seen["call_uuid_on_screen"] = right_edge_on_screen(page, "th.column-call_uuid")
    seen["call_uuid_clipped"] = page.locator("td.field-call_uuid").first.evaluate(CLIPPED)
    seen["results_listed"] = sorted(page.locator("td.field-result").all_inner_texts())
    screenshot(page, "admin-call-records.png")
    page.click("#changelist-filter a:text-is('no answer')")
    seen["no_answer_only"] = page.locator("td.field-result").all_inner_texts()
    screenshot(page, "admin-call-records-no-answer.png")

    # 7. The orders list: the proxy number whole, Created at on screen.
    page.goto(f"{base_url}/admin/orders/order/")
    seen["created_at_on_screen"] = right_edge_on_screen(page, "th.column-created")
    seen["boxes"] = [page.locator(sel).first.bounding_box() for sel in ("th.column-created", "#changelist .results")]
    seen["cells"] = page.locator("td.field-proxy").first.evaluate("(c) => [c.scrollWidth, c.clientWidth]")
    seen["proxy_numbers"] = page.locator("td.field-proxy").all_inner_texts()
    seen["proxy_number_clipped"] = page.locator("td.field-proxy").first.evaluate(CLIPPED)
    screenshot(page, "admin-orders.png")

    # 11, 12. The order page without Plivo settings: no click-to-call buttons; one "History".
    page.goto(f"{base_url}/admin/orders/order/{order_pk}/change/")
    seen["call_buttons"] = page.locator("form.click-to-call").count()
    seen["history"] = page.get_by_text("History", exact=True).count()
    seen["simulate"] = page.inner_text(".field-simulate .readonly")
    axe(page, "order", found)
    screenshot(page, "admin-order-dispatcher.png")

    # 12. The simulator from the order: the agent types the PIN the page shows; the inputs line up.
    page.click("a.simulate-agent")
    expect(page.locator("#call-summary")).to_be_visible()
    seen["simulator_pin"] = page.input_value("#id_digits")
    seen["simulator_summary"] = page.inner_text("#call-summary")
    seen["input_lefts"] = [
        page.locator(f"#id_{name}").bounding_box()["x"] for name in ("caller", "proxy_number", "digits")
    ]
    axe(page, "simulator", found)
    screenshot(page, "admin-simulator.png")

    # 12. The order add page: nothing about a line that does not exist yet.
    page.goto(f"{base_url}/admin/orders/order/add/")
    seen["add_page"] = page.inner_text("#content-main")
    seen["add_page_inlines"] = page.locator(".inline-group").count()
    screenshot(page, "admin-order-add.png")

    # 12. API keys: the help text and the rule agree.
    page.goto(f"{base_url}/admin/rest_framework_api_key/apikey/add/")
    seen["api_key_help"] = page.inner_text(".field-name .help")

    # 12. A blocked number added: the message names it as the logs do.
    page.goto(f"{base_url}/admin/orders/blockednumber/add/")
    page.fill("#id_number", "+14155550199")
    page.fill("#id_reason", "calls drivers at night")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    seen["blocked_message"] = page.inner_text(".messagelist .success")
    screenshot(page, "admin-blocked-number-added.png")

    # 13. The standalone dashboard (heading order, the rates table's header).
    page.goto(f"{base_url}/admin/dashboard/")
    seen["standalone_headings"] = page.locator("#content h1, #content h2, #content h3").evaluate_all(
        "(headings) => headings.map((h) => h.tagName)"
    )
    axe(page, "dashboard", found)
    screenshot(page, "admin-dashboard.png")
    seen["axe"] = found
    return seen


def a_superusers_order_page(page: Page, base_url: str, order_pk: int) -> dict:
    found: dict[str, list] = {}
    log_in(page, base_url, "boss")
    seen = {"menu": page.inner_text("#content-main")}
    page.goto(f"{base_url}/admin/orders/order/{order_pk}/change/")
    seen["buttons"] = page.locator("form.click-to-call button").evaluate_all(
        "(buttons) => buttons.map((b) => [b.textContent, b.disabled])"
    )
    seen["reason"] = page.inner_text("#click-to-call-off")
    axe(page, "order", found)
    screenshot(page, "admin-order-superuser-no-plivo.png")
    seen["axe"] = found
    return seen


def a_call(order: Order, outcome: str, dial_status: str = "", **fields) -> CallRecord:
    started = timezone.now() - timedelta(minutes=5)
    return CallRecord.objects.create(
        call_uuid=str(uuid.uuid4()),
        order=order,
        # Over the order's line, as answered calls are: the caller column names it ("customer, customer–agent line").
        line=order.masking,
        caller_role="customer",
        outcome=outcome,
        dial_status=dial_status,
        started_at=started,
        ended_at=started + timedelta(minutes=1),
        **fields,
    )


def overlapping(legends: list[dict]) -> list[tuple[str, str]]:
    """Pairs of legend labels on one row whose text boxes overlap."""
    pairs = []
    for first in legends:
        for second in legends:
            same_row = abs(first["y"] - second["y"]) < 1
            if first is not second and same_row and first["x"] < second["x"] < first["right"]:
                pairs.append((first["label"], second["label"]))
    return pairs


def test_a_dispatcher_walks_the_admin(live_server, django_user_model, settings):
    settings.PLIVO_AUTH_ID = settings.PLIVO_AUTH_TOKEN = ""  # click-to-call cannot work: item 11
    dispatcher = django_user_model.objects.create_user("dispatcher", password=PASSWORD, is_staff=True)
    # Every permission of the project's apps, the task queue's included: still no "Task results".
    dispatcher.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["orders", "voice", "rest_framework_api_key", "django_tasks_db"]
        )
    )
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    ProxyNumber.objects.create(number="+14155550100", label="main")
    bob = Agent.objects.create(name="Bob Courier", phone="+14156667778")
    # Bob has two live orders on the one number: his calls are asked for the PIN.
    first = services.assign_agent(Order.objects.create(customer_name="Alice", customer_phone="+14156667777"), bob)
    services.assign_agent(Order.objects.create(customer_name="Carol", customer_phone="+14156667779"), bob)

    empty = run_in_browser(an_empty_dashboard, live_server.url)

    a_call(first, Outcome.CONNECTED, "completed", duration=55)
    missed = a_call(first, Outcome.CONNECTED, "no-answer")
    a_call(first, Outcome.PIN_PROMPTED, asked_pin=True)  # hung up at the PIN prompt
    seen = run_in_browser(a_dispatchers_admin, live_server.url, first.pk)
    boss = run_in_browser(a_superusers_order_page, live_server.url, first.pk)

    # 9. An empty chart: "No calls", and no fractional counts.
    assert "No calls" in empty["texts"]
    assert not [text for text in empty["texts"] if re.fullmatch(r"\d+\.\d+", text)]
    assert [text for text in seen["day_texts"] if re.fullmatch(r"\d+", text)] == ["0", "1", "2", "3"]
    # 9. Above the app lists; legends whole, apart, each in its own colour; the week's hour of calls a bar.
    assert seen["dashboard_above_apps"]
    for legends in seen["legends"]:
        assert sorted(legend["label"] for legend in legends) == sorted(CallRecord.Result.labels)
        assert overlapping(legends) == []
        assert all(legend["right"] - legend["x"] >= legend["full"] - 0.5 for legend in legends)
        assert len({legend["fill"] for legend in legends}) == len(legends)
    assert seen["widest_week_bar"] >= 20

    # 10. The menu, and event types as the API spells them.
    assert "Webhook deliveries" in seen["menu"] and "Deliveries" not in seen["menu"]
    assert "task results" not in " ".join(seen["menu"]).lower()
    assert "task results" in boss["menu"].lower()  # superusers still see the queue
    assert "line.opened" in seen["event_filter"] and "Line Opened" not in seen["event_filter"]
    assert set(seen["event_types_listed"]) == {"line.opened", "order.status_changed"}

    # 6. Ticks from the catalogue; the endpoint saved with exactly the ticked types.
    assert [choice.strip() for choice in seen["endpoint_choices"]] == EventType.values
    assert [choice.strip() for choice in seen["endpoint_receives"]] == [
        "every event type, including types added later",
        "only the types ticked",
    ]
    assert WebhookEndpoint.objects.get().event_types == ["line.opened", "call.missed"]  # catalogue order
    assert seen["endpoint_list"] == ["line.opened, call.missed"]

    # 7, 8. Filtered by result, in the words the dashboard's legend uses; nothing clipped at 1280 px.
    assert seen["results_listed"] == ["ended before connecting", "no answer", "talked 0:55"]
    assert seen["no_answer_only"] == [missed.result_label] == ["no answer"]
    assert seen["call_uuid_on_screen"] and not seen["call_uuid_clipped"]
    assert seen["created_at_on_screen"] and not seen["proxy_number_clipped"], (seen["boxes"], seen["cells"])
    assert seen["proxy_numbers"] == ["+14155550100", "+14155550100"]

    # 11. No buttons that cannot work for the dispatcher; the superuser sees why they are off.
    assert seen["call_buttons"] == 0
    assert boss["buttons"] == [["Call agent", True], ["Call customer", True]]
    assert "PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN must be set" in boss["reason"]

    # 12. The small texts.
    assert seen["history"] == 1  # the button; the section is "Created and updated"
    assert f"the agent calling (typing PIN {first.masking.pin})" in seen["simulate"]
    assert seen["simulator_pin"] == first.masking.pin
    assert seen["simulator_summary"].startswith("Would ring Alice for ")
    assert len(set(seen["input_lefts"])) == 1, seen["input_lefts"]
    assert "PIN asked" not in seen["add_page"] and "Masking" not in seen["add_page"]
    assert seen["add_page_inlines"] == 0
    assert "need not be unique" not in seen["api_key_help"].lower() and "unique" in seen["api_key_help"]
    block = BlockedNumber.objects.get()
    assert "blocked number 1" not in seen["blocked_message"]
    assert f"“{block}” was added" in seen["blocked_message"] and str(block) == "+1***99"

    # 13. axe: no violation in our templates' elements.
    assert seen["standalone_headings"] == ["H1", "H2"]
    violations = {
        name: [*empty["axe"].get(name, []), *seen["axe"].get(name, []), *boss["axe"].get(name, [])] for name in OURS
    }
    assert violations == {name: [] for name in OURS}
    for name in (
        "admin-home.png",
        "admin-dashboard.png",
        "admin-dashboard-empty.png",
        "admin-webhook-endpoint-form.png",
        "admin-call-records-no-answer.png",
        "admin-orders.png",
        "admin-order-superuser-no-plivo.png",
        "admin-simulator.png",
    ):
        assert (ARTIFACTS / name).stat().st_size > 0
