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


async def book_by_phone(redis_url: str, tmp_path: Path, site: Site, name: str, hour: int) -> str:
    """Staff take a booking by phone, with Client 8's number and no e-mail address."""
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
        fields = {"treatment": FACIAL.id, "start": at(hour, day=site.day), "resource": "r_bob"}
        details = client(name=name, email="", phone=FAMILY_PHONE)
        booked = await BookingService(kv("bookings"), catalogue).book(
            ask({**fields, **details}, staff=True)
        )
        return booked.booking.id


DAUGHTERS = {"360": ("Kid Eight", "Kit Eight", 11), "390": ("Ada Eight", "Ava Eight", 13),
             "1280": ("Bo Eight", "Bea Eight", 15)}  # fmt: skip
"""Per window: the name she was booked under, the one staff correct it to, her hour."""


@pytest.mark.timeout(300)
async def test_staff_edit_a_client_mark_an_alert_and_merge_two_records(
    site: Site, browser: Chromium, redis_url: str, tmp_path: Path
) -> None:
    problems: list[str] = []
    for name, size in SIZES.items():  # one salon for the three windows: a third of the cost
        booked_as, corrected, hour = DAUGHTERS[name]
        booking = await book_by_phone(redis_url, tmp_path, site, booked_as, hour)
        await journey(site, browser, size, name, booking, booked_as, corrected, problems)
    assert not problems, "\n".join(problems)


async def journey(
    site: Site,
    browser: Chromium,
    size: ViewportSize,
    name: str,
    booking: str,
    booked_as: str,
    corrected: str,
    problems: list[str],
) -> None:
    page = await new_page(browser, size)
    axe = Axe()

    async def check(step: str, shot: str) -> None:
        width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if width[0] > width[1]:
            problems.append(f"{step} at {name}: {width[0]} px wide in {width[1]} px")
        results = await axe.run(page)
        if results.violations_count:
            problems.append(f"{step} at {name}:\n{results.generate_report()}")
        await site.shoot(page, shot + ("" if size == DESKTOP else f"-{name}"))

    await log_in(page, site.one)
    await page.goto(f"{site.one}/admin/clients?q=0123")
    rows = page.locator("table.clients tbody tr")
    await expect(rows.filter(has_text="Client 8")).to_have_count(1)
    await expect(rows.filter(has_text=booked_as)).to_have_count(1)  # not folded into her mum
    await check("the family's number finds her and her mother", "40-people-two-clients")

    await rows.filter(has_text=booked_as).get_by_role("link", name=booked_as).click()
    await expect(page.get_by_role("heading", name=booked_as, level=1)).to_be_visible()
    await page.get_by_label("Name", exact=True).fill(corrected)
    await page.get_by_role("button", name="Save details").click()
    await expect(page.get_by_role("heading", name=corrected, level=1)).to_be_visible()
    await expect(
        page.get_by_text(f"Saved {corrected}'s details on their 1 booking.")
    ).to_be_visible()
    await page.get_by_label("Add a note").fill(f"{corrected}: allergic to latex.")
    await page.get_by_label("Alert: show it on their appointments").check()
    await page.get_by_role("button", name="Add note").click()
    await expect(page.locator(".client-alert")).to_contain_text(f"{corrected}: allergic")
    await check("her page, corrected, with an alert", "41-people-edited-with-alert")

    mum = f"/admin/clients/{client_id(client_key('client8@example.com', ''))}"
    await page.goto(f"{site.one}{mum}")
    await page.get_by_label("The other client: name, e-mail or phone").fill(corrected)
    await page.locator("#merge").get_by_role("button", name="Find").click()
    found = page.locator("#merge li", has_text=corrected)
    await found.get_by_role("button", name="Merge into Client 8").click()
    question = f"Merge {corrected} into Client 8?"
    await expect(page.get_by_role("heading", name=question)).to_be_visible()
    await check("the merge, asked first", "42-people-merge-asked")
    await page.get_by_role("button", name="Yes, merge them").click()
    await expect(page.get_by_text(f"Merged {corrected} into Client 8.")).to_be_visible()
    await expect(page.locator(f'a[href="/admin/bookings/{booking}"]')).to_have_count(1)
    await expect(page.locator(".client-alert")).to_contain_text(f"{corrected}: allergic")
    await check("the merged client", "43-people-merged")

    await page.goto(f"{site.one}/admin/bookings/{booking}")
    await expect(page.locator(".client-alert")).to_contain_text(f"{corrected}: allergic")
    await page.goto(f"{site.one}/admin/calendar?date={site.day.isoformat()}")
    block = page.locator(f'a.block[data-booking="{booking}"]')
    await expect(block.locator(".alert-tag")).to_contain_text("Alert")
    await check("the calendar with the alert", "44-people-calendar-alert")
    await page.context.close()
