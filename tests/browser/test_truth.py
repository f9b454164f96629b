"""A real-browser journey of a time taken while the client typed their details (issue 24,
defect 9): the page that says so is reached by a redirect (Back never asks to send the form
again), its other times keep the chosen therapist and open a form already filled in, and the
booking made from one names the therapist. At 360, 390 and 1280 px, each page fitting the
window and clean under axe-core."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, ViewportSize, expect

from support.browser import DESKTOP, NARROW, PHONE, Chromium, Site, new_page
from support.salon import FACIAL, at, client

pytestmark = [pytest.mark.redis, pytest.mark.asyncio(loop_scope="module")]


async def fits_and_passes_axe(page: Page, axe: Axe) -> None:
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]} px wide in a {width[1]} px window"
    results = await axe.run(page)
    assert not results.violations_count, results.generate_report()


@pytest.mark.parametrize("size", [NARROW, PHONE, DESKTOP], ids=["360", "390", "1280"])
async def test_a_time_taken_while_typing_keeps_the_details_and_the_therapist(
    site: Site, browser: Chromium, size: ViewportSize
) -> None:
    page = await new_page(browser, size)
    axe = Axe()
    await page.goto(f"{site.one}/book/{FACIAL.id}/details?start=2020-01-02T10:00:00Z")
    await expect(page.get_by_role("alert")).to_contain_text("That time has passed.")
    await expect(page.get_by_label("Your name")).to_have_count(0)  # nothing to fill in for nothing
    await fits_and_passes_axe(page, axe)

    start = at(14, day=site.day)
    await page.goto(f"{site.one}/book/{FACIAL.id}/details?start={quote(start)}&resource=r_bob")
    await expect(page.get_by_text(" with Bob")).to_be_visible()
    async with httpx.AsyncClient(base_url=site.two) as other:  # someone else, a moment before
        taken = await other.post(
            "/api/bookings",
            json={"treatment": FACIAL.id, "start": start, "resource": "r_bob", **client(55)},
        )
        assert taken.status_code in (200, 201), taken.text
    await page.get_by_label("Your name").fill("Late Larry")
    await page.get_by_label("E-mail address").fill("larry@example.com")
    await page.get_by_label("Phone number").fill("07700 900999")
    await page.get_by_role("button", name="Confirm booking").click()

    await expect(page.get_by_role("heading", name="This time was just taken")).to_be_visible()
    assert "taken=1" in page.url  # a page of its own, reached by a redirect
    await expect(page.get_by_role("alert")).to_contain_text("the details you typed are kept")
    every = page.get_by_role("link", name="See every time that day with Bob")
    assert (await every.get_attribute("href") or "").endswith("&resource=r_bob")
    await fits_and_passes_axe(page, axe)
    suffix = {DESKTOP["width"]: "", PHONE["width"]: "-phone"}.get(size["width"])
    if suffix is not None:  # the README's screenshots are at desktop and phone sizes
        await site.shoot(page, f"40-time-taken-details-kept{suffix}")

    await page.locator("ul.slots a.slot").first.click()
    await expect(page.get_by_label("Your name")).to_have_value("Late Larry")
    await expect(page.get_by_label("E-mail address")).to_have_value("larry@example.com")
    await expect(page.get_by_label("Phone number")).to_have_value("07700 900999")
    await expect(page.get_by_text(" with Bob")).to_be_visible()
    await fits_and_passes_axe(page, axe)

    await page.go_back()  # no "Confirm form resubmission": the page was a GET
    await expect(page.get_by_role("heading", name="This time was just taken")).to_be_visible()
    await page.go_forward()
    await page.get_by_role("button", name="Confirm booking").click()
    await expect(page.get_by_role("heading", name="You are booked in")).to_be_visible()
    await expect(page.locator("dl.booking")).to_contain_text("Bob")
    await fits_and_passes_axe(page, axe)
    if suffix is not None:
        await site.shoot(page, f"41-booked-with-the-therapist-kept{suffix}")
