"""Real-browser journey of a salon closure over a booking (issue 24): staff close the salon on a
day that holds a booking, are shown the booking before anything is saved, and move it to a
listed time or cancel it; the closure is then saved and says what became of the booking. At
360, 390 and 1280 px, each page fitting the window and clean under axe-core."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, ViewportSize, expect

from support.browser import DESKTOP, NARROW, PHONE, Chromium, Site, log_in, new_page

pytestmark = [pytest.mark.redis, pytest.mark.asyncio(loop_scope="module")]


async def checked(page: Page, axe: Axe) -> None:
    """The page fits its window and axe-core finds nothing wrong with it."""
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]} px wide in a {width[1]} px window"
    results = await axe.run(page)
    assert not results.violations_count, results.generate_report()


@pytest.mark.parametrize(
    ("size", "action", "suffix"),
    [(NARROW, "move", ""), (PHONE, "cancel", "-phone"), (DESKTOP, "move", "")],
    ids=["360-move", "390-cancel", "1280-move"],
)
async def test_a_closure_over_a_booking_moves_or_cancels_it_before_it_saves(
    site: Site, browser: Chromium, size: ViewportSize, action: str, suffix: str
) -> None:
    page, axe = await new_page(browser, size), Axe()
    await log_in(page, site.one)
    await page.goto(f"{site.one}/admin/closures")
    await checked(page, axe)
    await page.get_by_label("First day").fill(site.day.isoformat())
    await page.get_by_label("Reason").fill("Staff training")
    await page.get_by_role("button", name="Close the salon then").click()

    await expect(page.get_by_role("heading", name="1 booking falls in this time")).to_be_visible()
    await expect(page.get_by_text("Client 8 · Facial")).to_be_visible()
    await checked(page, axe)
    if size != NARROW:
        await site.shoot(page, "23-closure-over-a-booking" + suffix)
    if action == "move":
        await page.get_by_label("Move it").check()
        moved_to = (
            await page.get_by_label("New time for Client 8").locator("option").first.inner_text()
        )
        assert not moved_to.startswith(f"{site.day:%a %-d %b}"), "offered a time on the closed day"
    else:
        await page.get_by_label("Cancel it and tell the client").check()
    await page.get_by_role("button", name="Save, and move or cancel as chosen").click()

    done = "Moved 1 booking" if action == "move" else "Cancelled 1 booking"
    await expect(
        page.get_by_text(f"The salon is closed on {site.day:%A %-d %B %Y}.")
    ).to_contain_text(f"{done}; the client is told.")
    await expect(page.get_by_text(f"{site.day} Staff training")).to_be_visible()
    await checked(page, axe)
    if size != NARROW:
        await site.shoot(page, "24-closure-saved" + suffix)

    # The calendar says why the day is shaded, in every lane.
    await page.goto(f"{site.one}/admin/calendar?date={site.day.isoformat()}")
    await expect(page.locator(".lane-body .note").first).to_have_text("Staff training")
    await expect(page.locator(".lane-body .note").first).to_be_visible()
    await checked(page, axe)
    if size != NARROW:
        await site.shoot(page, "24b-closure-on-the-calendar" + suffix)

    await page.goto(f"{site.one}/admin/bookings/{site.booking}")
    if action == "move":  # "Fri 11 Dec, 09:15 with Ann" listed; "Friday 11 December 2026, 09:15"
        day, clock = moved_to.split(" with ")[0].split(", ")
        main = page.locator("main")
        await expect(main).to_contain_text(f"{day.split()[1]} ")
        await expect(main).to_contain_text(f", {clock}")
        await expect(main).to_contain_text("confirmed")
    else:
        await expect(page.locator("main")).to_contain_text("cancelled")


async def test_leave_over_a_booking_moves_it_to_another_therapist_first(
    site: Site, browser: Chromium
) -> None:
    """At desktop size only: the closure journey above covers these pages at phone sizes."""
    page, axe = await new_page(browser, DESKTOP), Axe()
    await log_in(page, site.one)
    await page.goto(f"{site.one}/admin/resources/r_ann")
    leave = f"{site.day} to {site.day + timedelta(days=2)} Holiday"
    await page.get_by_label("Days off and leave").fill(f"2027-12-25\n{leave}")
    await page.get_by_label("Blocked time").fill("Every day 12:30-13:00 Lunch")
    await page.get_by_role("button", name="Save").click()

    await expect(page.get_by_role("heading", name="1 booking falls in this time")).to_be_visible()
    await checked(page, axe)
    await site.shoot(page, "25-leave-over-a-booking")
    await page.get_by_label("Move it").check()
    times = page.get_by_label("New time for Client 8")
    same_time_with_bob = f"{site.day:%a %-d %b}, 11:00 with Bob"
    await times.select_option(label=same_time_with_bob)
    await page.get_by_role("button", name="Save, and move or cancel as chosen").click()

    await expect(
        page.get_by_text("Saved Ann. Moved 1 booking; the client is told.")
    ).to_be_visible()
    await checked(page, axe)
    await page.goto(f"{site.one}/admin/resources/r_ann")  # both lines came through the asking
    await expect(page.get_by_label("Days off and leave")).to_have_value(f"2027-12-25\n{leave}")
    await expect(page.get_by_label("Blocked time")).to_have_value("Every day 12:30-13:00 Lunch")
    await page.goto(f"{site.one}/admin/bookings/{site.booking}")
    await expect(page.locator("main")).to_contain_text("Bob")
