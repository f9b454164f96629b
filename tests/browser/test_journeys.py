"""Real-browser journeys: headless Chromium (the system's) driving two `parlour serve` instances
on one Redis, the way a client and a member of staff use them.

Screenshots of every page visited go to ``PARLOUR_TEST_SCREENSHOTS`` when it is set (the README's
are made with ``PARLOUR_TEST_SCREENSHOTS=docs/screenshots``), else to the test's own folder.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from parlour.config import load_settings
from parlour.domain.booking import Status
from parlour.services.accounts import AccountService
from parlour.services.bookings import BookingService
from parlour.services.reviews import ReviewService
from parlour.storage import Storage

from support.processes import served
from support.salon import MASSAGE, at, client, furnish, upcoming_weekday

pytestmark = pytest.mark.redis

STAFF, PASSWORD = "desk@example.com", "a long staff password"
SECRET = "browser-test-secret-key-shared-by-both-instances"
WAIT_MS = 10_000  # the longest any expectation waits for the page; most hold at once


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
    reviewed_booking: str

    async def shoot(self, page: Page, name: str) -> None:
        await page.screenshot(path=self.shots / f"{name}.png", full_page=True)


@pytest.fixture
async def site(redis_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    data = tmp_path / "data"
    settings = load_settings(
        env_file=None, data_dir=data, redis_url=redis_url, data_backend="redis", secret_key=SECRET
    )
    async with Storage.from_settings(settings) as storage:
        catalogue = await furnish(storage.kv)
        await AccountService(storage.kv("users")).create_user(STAFF, "admin", PASSWORD)
        bookings = BookingService(storage.kv("bookings"), catalogue)
        visit = await bookings.book(
            {"treatment": MASSAGE.id, "start": at(9, day=upcoming_weekday()), **client(7)},
            staff=True,
        )
        done = await bookings.set_status(visit.booking, Status.COMPLETED)
        await ReviewService(storage.kv("reviews")).submit(done, "5", "Calm, unhurried, lovely.")
    env = {
        "REDIS_URL": redis_url,
        "PARLOUR_DATA_BACKEND": "redis",
        "PARLOUR_DATA_DIR": str(data),
        "PARLOUR_SECRET_KEY": SECRET,
        "PARLOUR_LOG_LEVEL": "warning",
    }
    shots = Path(os.environ.get("PARLOUR_TEST_SCREENSHOTS") or tmp_path / "screenshots")
    await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
    async with served(tmp_path, env) as one, served(tmp_path, env) as two:
        yield Site(one, two, shots, visit.booking.id)


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
    """The browser, and every Content-Security-Policy violation its pages reported: a journey
    fails on any, so a page that needs inline code or a foreign resource cannot slip in."""

    browser: Browser
    violations: list[str]


@pytest.fixture
async def browser() -> AsyncIterator[Chromium]:
    path = chromium_path()
    async with async_playwright() as playwright, AsyncExitStack() as stack:
        launched = await playwright.chromium.launch(
            executable_path=path,
            args=["--no-sandbox"],  # root in CI has no user namespaces
        )
        stack.push_async_callback(launched.close)
        chromium = Chromium(launched, [])
        yield chromium
        assert chromium.violations == [], "a page broke its Content-Security-Policy"


async def new_page(browser: Chromium) -> Page:
    context = await browser.browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(WAIT_MS)

    def violation(description: str) -> None:
        browser.violations.append(description)

    await context.expose_function("parlourCspViolation", violation)
    await context.add_init_script(_REPORT_VIOLATIONS)
    page = await context.new_page()

    def console(message: ConsoleMessage) -> None:
        # Chromium also logs what it refused; some refusals (a frame, a report-only rule) only
        # show up there.
        if "Content Security Policy" in message.text or message.text.startswith("Refused to"):
            browser.violations.append(f"console: {message.text}")

    page.on("console", console)
    return page


async def test_a_client_books_and_cancels_through_the_manage_link(
    site: Site, browser: Chromium
) -> None:
    page = await new_page(browser)
    await page.goto(site.one + "/")
    await site.shoot(page, "01-home")
    await page.goto(site.one + "/book")
    await site.shoot(page, "02-treatments")
    await page.get_by_role("link", name=f"Book {MASSAGE.name}").click()
    day = upcoming_weekday()
    await page.get_by_label("Day").fill(day.isoformat())
    await page.get_by_role("button", name="Show times").click()
    await expect(page.get_by_role("heading", name=day.strftime("%A %-d %B %Y"))).to_be_visible()
    await site.shoot(page, "03-choose-a-time")
    await page.locator("ul.slots a.slot").nth(2).click()
    await page.get_by_label("Your name").fill("Zoë Ångström-O'Neil")
    await page.get_by_label("E-mail address").fill("zoe@example.com")
    await page.get_by_label("Phone number").fill("+44 7700 900123")
    await site.shoot(page, "04-your-details")
    await page.get_by_role("button", name="Confirm booking").click()
    await expect(page.get_by_role("heading", name="You are booked in")).to_be_visible()
    await expect(page.get_by_text("Zoë Ångström-O'Neil")).to_be_visible()
    await site.shoot(page, "05-booked")
    manage_link = page.url.split("?")[0]

    # The private link, opened later on the other instance: the booking is there.
    await page.goto(manage_link.replace(site.one, site.two))
    await expect(page.locator(".status")).to_have_text("confirmed")
    page.once("dialog", lambda dialog: dialog.accept())  # "Cancel this booking?"
    await page.get_by_role("button", name="Cancel booking").click()
    await expect(page.get_by_text("Your booking is cancelled.")).to_be_visible()
    await expect(page.locator(".status")).to_have_text("cancelled")
    await site.shoot(page, "06-cancelled")


async def test_staff_see_a_booking_from_another_instance_arrive_live(
    site: Site, browser: Chromium
) -> None:
    page = await new_page(browser)
    await page.goto(site.one + "/login")
    await site.shoot(page, "07-login")
    await page.get_by_label("E-mail address").fill(STAFF)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text(f"Logged in as {STAFF}")).to_be_visible()
    await site.shoot(page, "08-today")

    day = upcoming_weekday()
    await page.goto(f"{site.one}/admin/calendar?date={day.isoformat()}")
    arrival = page.get_by_text("Client 42")
    await expect(arrival).to_have_count(0)
    async with httpx.AsyncClient(base_url=site.two) as other_instance:
        made = await other_instance.post(
            "/api/bookings",
            json={"treatment": MASSAGE.id, "start": at(14, day=day), **client(42)},
        )
        assert made.status_code == 201, made.text
    await expect(arrival).to_be_visible()  # no reload: the page's event stream brought it
    await site.shoot(page, "09-calendar-live")


async def test_staff_moderate_a_review_and_upload_a_photo(site: Site, browser: Chromium) -> None:
    page = await new_page(browser)
    await page.goto(site.two + "/login")
    await page.get_by_label("E-mail address").fill(STAFF)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text(f"Logged in as {STAFF}")).to_be_visible()

    await page.goto(site.one + "/admin/reviews")  # the other instance: the login holds there
    review = page.locator("article.review").filter(has_text="Calm, unhurried, lovely.")
    await expect(review.locator(".status")).to_have_text("pending")
    await site.shoot(page, "10-reviews")
    await review.get_by_role("button", name="Approve").click()
    await expect(review.locator(".status")).to_have_text("approved")
    await page.goto(site.two + "/reviews")
    await expect(page.get_by_text("Calm, unhurried, lovely.")).to_be_visible()

    await page.goto(site.one + "/admin/gallery")
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), (196, 140, 120)).save(picture, "PNG")
    await page.get_by_label("Photo").set_input_files(
        {"name": "treatment-room.png", "mimeType": "image/png", "buffer": picture.getvalue()}
    )
    await page.get_by_label("Caption").first.fill("The treatment room")
    await page.get_by_role("button", name="Upload").click()
    photo = page.get_by_role("img", name="The treatment room")
    await expect(photo).to_be_visible()
    loaded = await photo.evaluate("image => image.complete && image.naturalWidth > 0")
    assert loaded, "the thumbnail did not load"
    await site.shoot(page, "11-gallery")
    await page.goto(site.two + "/gallery")
    await expect(page.get_by_role("img", name="The treatment room")).to_be_visible()
    await site.shoot(page, "12-public-gallery")


async def test_the_api_docs_load_nothing_from_outside_and_keep_their_policy(
    site: Site, browser: Chromium
) -> None:
    page = await new_page(browser)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(site.one + "/api/docs")
    await expect(page.get_by_role("heading", name="Parlour API")).to_be_visible()
    await expect(
        page.get_by_role("button", name="POST /bookings/{token}/cancel Cancel Booking")
    ).to_be_visible()
    # Open an operation: more to render, more chances to need what the policy refuses.
    await page.get_by_role("button", name="GET /treatments List Treatments").click()
    await page.get_by_role("button", name="Try it out").click()
    await page.get_by_role("button", name="Execute").click()
    await expect(
        page.locator(".live-responses-table td.response-col_status:not(.col_header)")
    ).to_have_text("200")
    await site.shoot(page, "13-api-docs")
    outside = [url for url in requested if not url.startswith((site.one, "data:"))]
    assert outside == [], f"the docs page reached outside the site: {outside}"
