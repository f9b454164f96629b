"""Real-browser journeys of intent (issue 24): a client's move keeps the therapist they asked
for, and staff change only the therapist, asked first and told who it is with, at 360, 390 and
1280 px, each page axe-core clean and no wider than the window."""

from __future__ import annotations

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, ViewportSize, expect

from support.browser import DESKTOP, NARROW, PHONE, Chromium, Site, log_in, new_page

pytestmark = [pytest.mark.redis, pytest.mark.asyncio(loop_scope="module")]


async def clean(page: Page, axe: Axe) -> None:
    """No wider than the window, and no axe-core violation."""
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]} px wide in a {width[1]} px window"
    results = await axe.run(page)
    assert not results.violations_count, f"{page.url}:\n{results.generate_report()}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("size", [NARROW, PHONE, DESKTOP], ids=["360", "390", "1280"])
async def test_a_move_keeps_the_therapist_and_staff_change_only_the_therapist(
    site: Site, browser: Chromium, size: ViewportSize
) -> None:
    suffix = {360: "-360", 390: "-phone"}.get(size["width"], "")
    axe = Axe()
    page = await new_page(browser, size)

    # The client booked Ann by name: the move lists Ann's times and keeps her.
    await page.goto(f"{site.one}/booking/{site.token}/reschedule?date={site.day.isoformat()}")
    await expect(page.get_by_text("Times with Ann, your therapist now.")).to_be_visible()
    await clean(page, axe)
    await site.shoot(page, "intent-1-move-keeps-therapist" + suffix)
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator("ul.slots button.slot").first.click()
    await expect(page.get_by_text("Your booking has moved.")).to_be_visible()
    await clean(page, axe)

    # Staff change only the therapist, at the same time: asked first, then told.
    await log_in(page, site.one)
    await page.goto(f"{site.one}/admin/bookings/{site.booking}")
    await expect(page.locator("dl.booking")).to_contain_text("Ann")
    await clean(page, axe)
    await page.get_by_label("New therapist").select_option(label="Bob")
    await page.get_by_role("button", name="Change therapist").click()
    await expect(page.get_by_role("heading", name="with Bob instead of Ann?")).to_be_visible()
    await clean(page, axe)
    await site.shoot(page, "intent-2-change-therapist-asked" + suffix)
    await page.get_by_role("button", name="Yes, change it").click()
    await expect(page.get_by_text("the therapist changed: it was Ann")).to_be_visible()
    await expect(page.locator("dl.booking")).to_contain_text("Bob")
    await clean(page, axe)
    await site.shoot(page, "intent-3-therapist-changed" + suffix)
