"""What the real-browser tests share: the salon they run against, the system's Chromium, the
sizes a salon's clients and staff use, and logging in.

Screenshots go to ``PARLOUR_TEST_SCREENSHOTS`` when it is set (the README's are made with
``PARLOUR_TEST_SCREENSHOTS=docs/screenshots``), else to the test's own folder.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

STAFF, PASSWORD = "desk@example.com", "a long staff password"
SECRET = "browser-test-secret-key-shared-by-both-instances"
WAIT_MS = 10_000  # the longest any expectation waits for the page; most hold at once
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
NARROW: ViewportSize = {"width": 360, "height": 740}
SIZES = {"desktop": DESKTOP, "phone": PHONE}


def chromium_path() -> str:
    configured = os.environ.get("PARLOUR_TEST_CHROMIUM") or shutil.which("chromium")
    if configured:
        return configured
    message = "Chromium not found: apt install chromium (or set PARLOUR_TEST_CHROMIUM)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true: a missing browser is a failure, not a skip")
    pytest.skip(message)


@dataclass
class Site:
    one: str
    two: str
    shots: Path
    day: date
    """A bookable weekday a few days ahead, with the demo bookings on it."""
    reviewed_booking: str
    reviewed_token: str
    booking: str
    """A confirmed booking on ``day`` at 11:00 (Ann, facial), and its manage token."""
    token: str
    photo: str

    async def shoot(self, page: Page, name: str) -> None:
        await page.screenshot(path=self.shots / f"{name}.png", full_page=True)


async def new_page(browser: Browser, size: ViewportSize = DESKTOP) -> Page:
    # Not is_mobile: a mobile layout viewport widens to fit its content, so a page 395 px wide
    # would measure as fitting a 395 px window on a 390 px phone.
    context = await browser.new_context(viewport=size)
    context.set_default_timeout(WAIT_MS)
    return await context.new_page()


async def log_in(page: Page, base: str) -> None:
    await page.goto(base + "/login")
    await page.get_by_label("E-mail address").fill(STAFF)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text(f"Logged in as {STAFF}")).to_be_visible()
