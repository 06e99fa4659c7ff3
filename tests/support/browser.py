"""Headless Debian Chromium driven by Playwright, for the admin's browser tests.

Import it at the top of a browser test module: it skips the module, with the
hint to fix it, when Playwright or Chromium is missing. Playwright's sync API
runs an event loop in the thread that drives it, and Django refuses ORM calls
from such a thread; the browser therefore runs in a worker thread and the
test thread keeps the database.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOW_TO_ENABLE = "apt-get install -y chromium && pip install -r requirements-dev.txt"

try:
    from playwright.sync_api import Page, sync_playwright
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


def run_in_browser(flow, *args, width: int = 1280):
    """Run ``flow(page, *args)`` in a headless Chromium on a worker thread; return its result."""

    def drive():
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": width, "height": 1000})
                page.set_default_timeout(20_000)
                return flow(page, *args)
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(drive).result()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
