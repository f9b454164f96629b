"""Clients are people (issue 24), in a real browser at 360, 390 and 1280 px: a child booked by
phone with her mother's number is her own client, staff correct her name, mark an allergy as
an alert, find her from her mother's page and merge the two records after a confirmation; the
alert then shows on the appointment. Every page fits the window and axe-core finds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import ViewportSize, expect

from parlour.config import load_settings
from parlour.services.bookings.client_keys import client_id, client_key
from parlour.services.bookings.engine import BookingService
from parlour.services.catalogue import CatalogueService
from parlour.storage import Storage

from support.browser import DESKTOP, NARROW, PHONE, SECRET, Chromium, Site, log_in, new_page
from support.salon import FACIAL, ask, at, client

pytestmark = [pytest.mark.redis, pytest.mark.asyncio(loop_scope="module")]
SIZES = {"360": NARROW, "390": PHONE, "1280": DESKTOP}
FAMILY_PHONE = client(8)["phone"]
"""Client 8's number (support.salon), given again for her daughter."""


async def book_the_daughter(redis_url: str, tmp_path: Path, site: Site) -> str:
    """Staff take a booking by phone for Kid Eight, with no e-mail address."""
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path / "data",
        redis_url=redis_url,
        data_backend="redis",
        secret_key=SECRET,
    )
    async with Storage.from_settings(settings) as storage:
        kv = storage.kv
        catalogue = CatalogueService(kv("business"), kv("treatments"), kv("resources"))
        fields = {"treatment": FACIAL.id, "start": at(14, day=site.day), "resource": "r_ann"}
        details = client(name="Kid Eight", email="", phone=FAMILY_PHONE)
        booked = await BookingService(kv("bookings"), catalogue).book(
            ask({**fields, **details}, staff=True)
        )
        return booked.booking.id


@pytest.mark.timeout(240)
@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
async def test_staff_edit_a_client_mark_an_alert_and_merge_two_records(
    site: Site, browser: Chromium, size: ViewportSize, redis_url: str, tmp_path: Path
) -> None:
    booking = await book_the_daughter(redis_url, tmp_path, site)
    page = await new_page(browser, size)
    axe = Axe()
    name = next(k for k, v in SIZES.items() if v == size)
    problems: list[str] = []

    async def check(step: str, shot: str = "") -> None:
        width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if width[0] > width[1]:
            problems.append(f"{step}: {width[0]} px wide in {width[1]} px")
        results = await axe.run(page)
        if results.violations_count:
            problems.append(f"{step}:\n{results.generate_report()}")
        if shot:
            await site.shoot(page, shot + ("" if size == DESKTOP else f"-{name}"))

    await log_in(page, site.one)
    await page.goto(f"{site.one}/admin/clients?q=0123")
    rows = page.locator("table.clients tbody tr")
    await expect(rows.filter(has_text="Client 8")).to_have_count(1)
    await expect(rows.filter(has_text="Kid Eight")).to_have_count(1)  # not folded into her mum
    await check("the family's number finds two clients", "40-people-two-clients")

    await rows.filter(has_text="Kid Eight").get_by_role("link", name="Kid Eight").click()
    await expect(page.get_by_role("heading", name="Kid Eight", level=1)).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("Kit Eight")
    await page.get_by_role("button", name="Save details").click()
    await expect(page.get_by_role("heading", name="Kit Eight", level=1)).to_be_visible()
    await expect(page.get_by_text("Saved Kit Eight's details on their 1 booking.")).to_be_visible()
    await page.get_by_label("Add a note").fill("Allergic to latex: use nitrile gloves.")
    await page.get_by_label("Alert: show it on their appointments").check()
    await page.get_by_role("button", name="Add note").click()
    await expect(page.locator(".client-alert")).to_contain_text("Allergic to latex")
    await check("her page, edited, with an alert", "41-people-edited-with-alert")

    mum = f"/admin/clients/{client_id(client_key('client8@example.com', ''))}"
    await page.goto(f"{site.one}{mum}")
    await page.get_by_label("The other client: name, e-mail or phone").fill("kit")
    await page.locator("#merge").get_by_role("button", name="Find").click()
    found = page.locator("#merge li", has_text="Kit Eight")
    await found.get_by_role("button", name="Merge into Client 8").click()
    await expect(page.get_by_role("heading", name="Merge Kit Eight into Client 8?")).to_be_visible()
    await check("the merge, asked first", "42-people-merge-asked")
    await page.get_by_role("button", name="Yes, merge them").click()
    await expect(page.get_by_text("Merged Kit Eight into Client 8.")).to_be_visible()
    await expect(page.locator(f'a[href="/admin/bookings/{booking}"]')).to_have_count(1)
    await expect(page.locator(".client-alert")).to_contain_text("Allergic to latex")
    await check("the merged client", "43-people-merged")

    await page.goto(f"{site.one}/admin/bookings/{booking}")
    await expect(page.locator(".client-alert")).to_contain_text("Allergic to latex")
    await page.goto(f"{site.one}/admin/calendar?date={site.day.isoformat()}")
    block = page.locator(f'a.block[data-booking="{booking}"]')
    await expect(block.locator(".alert-tag")).to_contain_text("Alert")
    await check("the calendar with the alert", "44-people-calendar-alert")
    assert not problems, "\n".join(problems)
