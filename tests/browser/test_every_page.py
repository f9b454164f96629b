"""Every page, public and staff, error pages and confirmation steps included: none wider than
the window at 360, 390 and 1280 px (``document.documentElement.scrollWidth <= innerWidth``),
none with an inline style, script or event handler (a strict Content-Security-Policy would
refuse them), and axe-core finds no violation at phone and desktop sizes.

The list is written out, page by page, so a new page is added here on purpose; a test beside
it checks that every GET route of the app is visited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, ViewportSize, expect

from parlour.services.bookings.client_keys import client_id, client_key

from support.browser import DESKTOP, NARROW, PHONE, STAFF, Chromium, Site, log_in, new_page
from support.salon import FACIAL, MASSAGE, at, client

pytestmark = pytest.mark.redis

Visit = Callable[[Page, Site], Awaitable[None]]
INLINE = """[...document.querySelectorAll('[style], script:not([src])')].map(e => e.outerHTML)
  .concat([...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
    .filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name)))"""


@dataclass(frozen=True)
class Stop:
    name: str
    visit: Visit


def go(path: str) -> Visit:
    async def visit(page: Page, site: Site) -> None:
        await page.goto(site.one + path.format(site=site, day=site.day.isoformat()))

    return visit


async def details_with_errors(page: Page, site: Site) -> None:
    await page.goto(f"{site.one}/book/{MASSAGE.id}/details?start={quote(at(15, day=site.day))}")
    await page.get_by_label("Your name").fill("   ")
    await page.get_by_label("E-mail address").fill("someone@example.com")
    await page.get_by_label("Phone number").fill("12")
    await page.get_by_role("button", name="Confirm booking").click()
    await expect(page.get_by_text("Please check:")).to_be_visible()


async def time_just_taken(page: Page, site: Site) -> None:
    start = at(15, 30, day=site.day)
    await page.goto(f"{site.one}/book/{MASSAGE.id}/details?start={quote(start)}")
    async with httpx.AsyncClient(base_url=site.two) as other:
        taken = await other.post(
            "/api/bookings", json={"treatment": MASSAGE.id, "start": start, **client(55)}
        )
        assert taken.status_code in (200, 201, 409), taken.text
    await page.get_by_label("Your name").fill("Late Larry")
    await page.get_by_label("E-mail address").fill("larry@example.com")
    await page.get_by_label("Phone number").fill("07700 900999")
    await page.get_by_role("button", name="Confirm booking").click()
    await expect(page.get_by_role("heading", name="This time was just taken")).to_be_visible()


async def too_many_logins(page: Page, site: Site) -> None:
    for _ in range(7):  # the sites allow 6 failures in 15 minutes
        await page.goto(site.one + "/login")
        await page.get_by_label("E-mail address").fill("nobody@example.com")
        await page.get_by_label("Password").fill("not the password")
        await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Too many attempts")).to_be_visible()


def asked_first(path: str, form: str, status: str = "") -> Visit:
    """The confirmation step a browser without JavaScript meets: the form sent as is."""

    async def visit(page: Page, site: Site) -> None:
        await page.goto(site.one + path.format(site=site))
        if status:
            await page.get_by_label("Status").select_option(status)
        await page.locator(form).first.evaluate("form => form.submit()")  # no submit event
        await expect(page.get_by_role("link", name="No, go back")).to_be_visible()

    return visit


async def new_booking_from_the_grid(page: Page, site: Site) -> None:
    await page.goto(f"{site.one}/admin/calendar?date={site.day.isoformat()}")
    await page.locator('#lane-r_bob a.free[data-time="15:00"]').click()
    await page.get_by_label("Treatment").select_option(FACIAL.id)
    await page.get_by_role("button", name="Show times").click()
    await expect(page.get_by_label("Time")).to_have_value(at(15, day=site.day))


def saturday(site: Site) -> str:
    return (site.day + timedelta(days=5 - site.day.weekday())).isoformat()


async def closed_day(page: Page, site: Site) -> None:
    await page.goto(f"{site.one}/book/{FACIAL.id}?date={saturday(site)}")
    await expect(page.get_by_role("link", name="Next free day")).to_be_visible()


def client_page(email: str, tail: str = "") -> Visit:
    async def visit(page: Page, site: Site) -> None:
        await page.goto(f"{site.one}/admin/clients/{client_id(client_key(email, ''))}{tail}")

    return visit


async def client_with_a_note(page: Page, site: Site) -> None:
    await client_page("client8@example.com")(page, site)
    await page.get_by_label("Add a note").fill("Prefers Ann. Sensitive skin: patch test first.")
    await page.get_by_role("button", name="Add note").click()
    await expect(page.get_by_text("Note added.")).to_be_visible()


async def new_manage_link(page: Page, site: Site) -> None:
    await page.goto(f"{site.one}/admin/bookings/{site.booking}")
    await page.locator("form[action$='/link']").evaluate("form => form.submit()")
    await page.get_by_role("button", name="Yes, make a new link").click()
    await expect(page.locator(".manage-link")).to_be_visible()


async def a_message(page: Page, site: Site) -> None:
    await page.goto(site.one + "/admin/outbox")
    await page.locator('a[href^="/admin/outbox/bookings/"]').first.click()
    await expect(page.get_by_role("heading", level=1)).to_be_visible()


async def staff_menu_open(page: Page, site: Site) -> None:
    await page.goto(site.one + "/admin")
    await page.get_by_text("More", exact=True).click()
    await expect(page.get_by_role("link", name="Staff accounts")).to_be_visible()


PUBLIC = [
    Stop("home", go("/")),
    Stop("treatments", go("/treatments")),
    Stop("book: choose a treatment", go("/book")),
    Stop("book: choose a time", go(f"/book/{MASSAGE.id}?date={{day}}")),
    Stop("book: a day that has passed", go(f"/book/{FACIAL.id}?date=2020-01-04")),
    Stop("book: a closed day and the next free day", closed_day),
    Stop("book: with a therapist", go(f"/book/{FACIAL.id}?date={{day}}&resource=r_bob")),
    Stop(
        "book: details with a therapist",
        go(f"/book/{FACIAL.id}/details?start={{day}}T10:00:00Z&resource=r_bob"),
    ),
    Stop("book: your details", go(f"/book/{FACIAL.id}/details?start={{day}}T10:00:00Z")),
    Stop(
        "book: details of a time that has passed (422)",
        go(f"/book/{FACIAL.id}/details?start=2020-01-02T10:00:00Z"),
    ),
    Stop("book: details with errors", details_with_errors),
    Stop("book: the time was just taken (409)", time_just_taken),
    Stop("manage link, new", go("/booking/{site.token}?new=1")),
    Stop("manage link: move", go("/booking/{site.token}/reschedule")),
    Stop("manage link: visit done and reviewed", go("/booking/{site.reviewed_token}")),
    Stop("reviews", go("/reviews")),
    Stop("gallery", go("/gallery")),
    Stop("login", go("/login")),
    Stop("login: forgot your password", go("/login/forgot")),
    Stop("login: a reset link that has expired (410)", go("/login/reset/expired-or-made-up-link")),
    Stop("404", go("/no/such/page")),
    Stop("404: a mistyped manage link", go("/booking/this-is-not-a-booking-link")),
]
STAFF_PAGES = [
    Stop("today", go("/admin")),
    Stop("staff menu, open", staff_menu_open),
    Stop("calendar: day", go("/admin/calendar?date={day}")),
    Stop("calendar: day, one therapist", go("/admin/calendar?date={day}&resource=r_bob")),
    Stop("calendar: week", go("/admin/calendar?view=week&date={day}&resource=r_ann")),
    Stop("calendar: cancelled only", go("/admin/calendar?date={day}&status=cancelled")),
    Stop("booking", go("/admin/bookings/{site.booking}")),
    Stop(
        "booking: confirm a move",
        asked_first("/admin/bookings/{site.booking}", "form[data-confirm^='Move it']"),
    ),
    Stop(
        "booking: confirm a new link",
        asked_first("/admin/bookings/{site.booking}", "form[action$='/link']"),
    ),
    Stop("booking: a new manage link", new_manage_link),
    Stop("clients", go("/admin/clients")),
    Stop("clients: a search", go("/admin/clients?q=client%208")),
    Stop("clients: a search that finds nobody", go("/admin/clients?q=nobody")),
    Stop("client", client_page("client7@example.com")),
    Stop("client with a note", client_with_a_note),
    Stop(
        "client: confirm removing a note",
        asked_first(
            f"/admin/clients/{client_id(client_key('client8@example.com', ''))}",
            "form[action$='/notes/remove']",
        ),
    ),
    Stop("client: confirm erasing", client_page("client7@example.com", "/erase")),
    Stop(
        "booking: confirm a status",
        asked_first("/admin/bookings/{site.booking}", "form.filters[method=post]", "cancelled"),
    ),
    Stop("new booking", go("/admin/bookings/new")),
    Stop("new booking from the grid", new_booking_from_the_grid),
    Stop("treatments", go("/admin/treatments")),
    Stop("treatment: new", go("/admin/treatments/new")),
    Stop("treatment", go(f"/admin/treatments/{FACIAL.id}")),
    Stop("therapists and rooms", go("/admin/resources")),
    Stop("therapist: new", go("/admin/resources/new")),
    Stop("therapist", go("/admin/resources/r_ann")),
    Stop("business", go("/admin/business")),
    Stop("closures", go("/admin/closures")),
    Stop("reviews", go("/admin/reviews")),
    Stop("gallery", go("/admin/gallery")),
    Stop("gallery: confirm a deletion", asked_first("/admin/gallery", "form[data-confirm]")),
    Stop("account", go("/admin/account")),
    Stop(
        "account: confirm logging out everywhere",
        asked_first("/admin/account", "form[action$='/end-all']"),
    ),
    Stop(
        "staff accounts: confirm ending sessions",
        asked_first("/admin/users", "form[action$='/end-sessions']"),
    ),
    Stop("account: two-factor", go("/admin/account/two-factor")),
    Stop("audit log", go("/admin/audit")),
    Stop("outbox", go("/admin/outbox")),
    Stop("outbox: a message", a_message),
    Stop("staff accounts", go("/admin/users")),
    Stop("rate limits", go("/admin/ratelimits")),
    Stop("rate limits: a look-up", go(f"/admin/ratelimits?email={STAFF}")),
    Stop(
        "rate limits: confirm clearing",
        asked_first(f"/admin/ratelimits?email={STAFF}", "form[action$='/clear']"),
    ),
    Stop("404 for staff", go("/admin/bookings/b_nope")),
]
LAST = [Stop("429: too many logins", too_many_logins)]  # it blocks logins from here on


@pytest.mark.timeout(400)  # one test walks nearly 50 pages, each audited by axe-core
@pytest.mark.asyncio(loop_scope="module")  # the loop of the module's Chromium (conftest)
@pytest.mark.parametrize(
    ("size", "audit"),
    [(NARROW, False), (PHONE, True), (DESKTOP, True)],
    ids=["360", "390", "1280"],
)
async def test_every_page_fits_the_window_and_passes_axe(
    site: Site, browser: Chromium, size: ViewportSize, audit: bool
) -> None:
    page = await new_page(browser, size)
    page.on("dialog", lambda dialog: dialog.accept())
    axe = Axe()
    problems: list[str] = []

    async def check(stop: Stop) -> None:
        await stop.visit(page, site)
        width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if width[0] > min(width[1], size["width"]):
            problems.append(f"{stop.name} ({page.url}): {width[0]} px wide in {width[1]} px")
        inline = await page.evaluate(INLINE)  # what script-src/style-src 'self' would refuse
        if inline:
            problems.append(f"{stop.name} ({page.url}): inline style or script: {inline}")
        if audit:
            results = await axe.run(page)
            if results.violations_count:
                problems.append(f"{stop.name} ({page.url}):\n{results.generate_report()}")

    for stop in PUBLIC:
        await check(stop)
    await log_in(page, site.one)
    for stop in STAFF_PAGES:
        await check(stop)
    await page.context.clear_cookies()
    for stop in LAST:
        await check(stop)
    assert not problems, "\n".join(problems)
    assert len(PUBLIC) + len(STAFF_PAGES) + len(LAST) >= 60


COVERED = {
    "/", "/treatments", "/book", "/book/{treatment_id}", "/book/{treatment_id}/details",
    "/booking/{token}", "/booking/{token}/reschedule", "/reviews", "/gallery", "/login",
    "/admin", "/admin/calendar", "/admin/bookings/new", "/admin/bookings/{booking_id}",
    "/admin/treatments", "/admin/treatments/new", "/admin/treatments/{treatment_id}",
    "/admin/resources", "/admin/resources/new", "/admin/resources/{resource_id}",
    "/admin/business", "/admin/reviews", "/admin/gallery", "/admin/account", "/admin/users",
    "/admin/ratelimits", "/admin/account/two-factor", "/admin/audit",
    "/login/forgot", "/login/reset/{token}", "/admin/outbox",
    "/admin/outbox/{namespace}/{message_id}",
    "/admin/clients", "/admin/clients/{client_id}", "/admin/clients/{client_id}/erase",
    "/admin/closures",
}  # fmt: skip
NOT_PAGES = {
    "/healthz", "/readyz", "/metrics", "/favicon.ico", "/admin/events",
    "/gallery/{photo_id}.webp", "/gallery/{photo_id}/thumb.webp", "/booking/{token}/calendar.ics",
    "/admin/outbox/{namespace}/{message_id}/html",  # the framed preview of "outbox: a message"
}  # fmt: skip


def test_every_page_of_the_app_is_on_the_list(tmp_path: object) -> None:
    from parlour.config import load_settings
    from parlour.web.app import create_app

    from support.web import page_routes

    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    pages = {
        path
        for path, route in page_routes(app.routes)
        if "GET" in (route.methods or ()) and path not in NOT_PAGES
    }
    assert pages == COVERED, f"new pages to add to the list above: {pages - COVERED}"
