"""The dashboard on the admin home in a real browser (tests/support/browser.py skips this module without Chromium).

The screenshot goes to test-artifacts/dashboard.png; ``make screenshots`` (UPDATE_DOCS=1) also
writes it to docs/dashboard.png, the picture in docs/operating.md.
"""

import os
import random
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from orders.models import Agent, ProxyNumber
from tests.support.browser import run_in_browser
from tests.support.world import open_line
from voice.models import CallRecord, MessageRecord

from playwright.sync_api import Page, expect  # isort: skip  (after the skip in tests.support.browser)

pytestmark = pytest.mark.django_db(transaction=True)

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
Outcome = CallRecord.Outcome


def a_week_of_calls() -> None:
    """About 2,000 calls over the week, busier by day, with every result; the same every run."""
    draw = random.Random(15)
    now = timezone.now()
    records, texts = [], []
    for hours_ago in range(168):
        hour = now - timedelta(hours=hours_ago)
        busy = 2 + (10 if 8 <= hour.hour <= 20 else 0)
        for number in range(draw.randint(busy // 2, busy + 4)):
            started = hour - timedelta(minutes=draw.randint(0, 50))
            outcome, status, asked = draw.choices(
                [
                    (Outcome.CONNECTED, "completed", False),
                    (Outcome.CONNECTED, "no-answer", False),
                    (Outcome.CONNECTED, "busy", False),
                    (Outcome.CONNECTED, "completed", True),
                    (Outcome.PIN_PROMPTED, "", True),
                    (Outcome.REJECTED, "", True),
                    (Outcome.UNKNOWN, "", False),
                ],
                weights=[60, 10, 4, 8, 3, 2, 8],
            )[0]
            records.append(
                CallRecord(
                    call_uuid=f"shot-{hours_ago}-{number}",
                    outcome=outcome,
                    dial_status=status,
                    asked_pin=asked,
                    started_at=started,
                    ended_at=started + timedelta(minutes=2),
                )
            )
            if draw.random() < 0.3:
                texts.append(
                    MessageRecord(message_uuid=f"shot-{hours_ago}-{number}", outcome="relayed", received_at=started)
                )
    CallRecord.objects.bulk_create(records)
    MessageRecord.objects.bulk_create(texts)


def a_short_pool() -> None:
    """Three US numbers; one agent holds three live orders: N = 3, 2N − 1 = 5, add 2."""
    for number in ("+14155550100", "+14155550101", "+14155550102"):
        ProxyNumber.objects.create(number=number)
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    erin = Agent.objects.create(name="Erin", phone="+14156667781")
    for customer in ("+14156660001", "+14156660002", "+14156660003"):
        open_line(customer, dave)
    open_line("+14156660004", erin)


def look_at_the_dashboard(page: Page, base_url: str, shot: str) -> dict:
    page.goto(f"{base_url}/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "a-long-ops-password")
    page.click("input[type=submit]")
    charts = page.locator("#dashboard-panel svg.pygal-chart")
    expect(charts).to_have_count(3)
    boxes = [charts.nth(index).bounding_box() for index in range(3)]
    panel = page.locator("#dashboard")
    panel.screenshot(path=shot)
    return {
        "boxes": boxes,
        "rates": page.inner_text("#dashboard-rates"),
        "advice": page.inner_text("#pool-sentences"),
        "loading": page.locator(".dashboard-loading").count(),
    }


def test_the_dashboard_draws_its_charts_on_the_admin_home(live_server, django_user_model, tmp_path):
    django_user_model.objects.create_superuser("ops", "ops@example.com", "a-long-ops-password")
    a_week_of_calls()
    a_short_pool()
    shot = tmp_path / "dashboard.png"

    seen = run_in_browser(look_at_the_dashboard, live_server.url, str(shot))

    # Charts readable at 1280 px: each at least 600 px wide and drawn, not collapsed.
    for box in seen["boxes"]:
        assert box["width"] >= 800 and box["height"] >= 250, box
    assert "Answer rate" in seen["rates"] and "%" in seen["rates"]
    assert "2N − 1 = 5 numbers are needed; you have 3: add 2." in seen["advice"]
    assert seen["loading"] == 0, "the panel replaced the loading note"
    assert shot.stat().st_size > 20_000
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(shot, artifacts / "dashboard.png")
    if os.environ.get("UPDATE_DOCS") == "1":
        shutil.copy(shot, DOCS_SCREENSHOT)
