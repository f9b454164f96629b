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
from playwright.async_api import Browser, ConsoleMessage, Page, ViewportSize, expect

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


# Runs in every page before its own code (Playwright's init scripts are not subject to the
# page's CSP) and reports each violation the page sees to the test, across navigations.
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.parlourCspViolation(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline code"}`
    + ` at ${event.sourceFile || event.documentURI}:${event.lineNumber}`
  );
});
"""


@dataclass
class Chromium:
    """The browser, and every Content-Security-Policy violation its pages reported: the
    ``browser`` fixture fails a test on any, so a page that needs inline code or a foreign
    resource cannot slip in."""

    browser: Browser
    violations: list[str]


async def new_page(
    chromium: Chromium, size: ViewportSize = DESKTOP, *, javascript: bool = True
) -> Page:
    # Not is_mobile: a mobile layout viewport widens to fit its content, so a page 395 px wide
    # would measure as fitting a 395 px window on a 390 px phone.
    context = await chromium.browser.new_context(viewport=size, java_script_enabled=javascript)
    context.set_default_timeout(WAIT_MS)

    def violation(description: str) -> None:
        chromium.violations.append(description)

    await context.expose_function("parlourCspViolation", violation)
    await context.add_init_script(_REPORT_VIOLATIONS)
    page = await context.new_page()

    def console(message: ConsoleMessage) -> None:
        # Chromium also logs what it refused; some refusals (a frame, a report-only rule) only
        # show up there.
        if "Content Security Policy" in message.text or message.text.startswith("Refused to"):
            chromium.violations.append(f"console: {message.text}")

    page.on("console", console)
    return page


async def log_in(page: Page, base: str) -> None:
    await page.goto(base + "/login")
    await page.get_by_label("E-mail address").fill(STAFF)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text(f"Logged in as {STAFF}")).to_be_visible()
