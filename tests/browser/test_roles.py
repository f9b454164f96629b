"""Issue 24 in a real browser: the audit log reads in words and fits the window, a page with a
name of 100 characters and no space fits too (defect 17), and a reception account logs in and
works at 360, 390 and 1280 px, axe-core clean, without the owner's pages."""

from __future__ import annotations

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from support.browser import DESKTOP, NARROW, PHONE, Chromium, Site, log_in, new_page
from support.salon import FACIAL, MASSAGE, at

pytestmark = [pytest.mark.redis, pytest.mark.asyncio(loop_scope="module")]

RECEPTION, PASSWORD = "reception@example.com", "a long reception password"
LONG = ("Wolfeschlegelsteinhausenbergerdorff" * 3)[:100]  # no space to wrap at
ACCENTED = "Épilation à la cire"
SIZES = [NARROW, PHONE, DESKTOP]


async def _problems(page: Page, axe: Axe, audit: bool = True) -> list[str]:
    found = []
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        found.append(f"{page.url}: {width[0]} px wide in {width[1]} px")
    spilled = await page.evaluate(
        "[...document.querySelectorAll('.block .what, td, .audit-entry p')]"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.slice(0, 40))"
    )
    if spilled:
        found.append(f"{page.url}: text spills out of its box: {spilled}")
    if audit:
        results = await axe.run(page)
        if results.violations_count:
            found.append(f"{page.url}:\n{results.generate_report()}")
    return found


async def _set_up(page: Page, site: Site) -> str:
    """As the owner: a reception account, a treatment renamed with accents (an audit entry),
    and a booking for a client whose name has no space (its id is returned)."""
    await log_in(page, site.one)
    await page.goto(site.one + "/admin/users")
    form = page.locator('form[action="/admin/users"]')
    await form.locator('input[name="email"]').fill(RECEPTION)
    await form.locator('select[name="role"]').select_option("reception")
    await form.locator('input[name="password"]').fill(PASSWORD)
    await form.get_by_role("button", name="Create account").click()
    await expect(page.get_by_text(f"Account created for {RECEPTION}.")).to_be_visible()
    await page.goto(f"{site.one}/admin/treatments/{FACIAL.id}")
    await page.locator('input[name="name"]').fill(ACCENTED)
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text(f"Saved {ACCENTED}.")).to_be_visible()
    async with httpx.AsyncClient(base_url=site.two) as api:
        booked = await api.post(
            "/api/bookings",
            json={
                "treatment": MASSAGE.id,
                "start": at(13, day=site.day),
                "name": LONG,
                "email": "long@example.com",
                "phone": "07700 900555",
            },
        )
        assert booked.status_code == 201, booked.text
        return str(booked.json()["booking"]["id"])


async def test_the_audit_log_and_a_reception_login_fit_every_size_and_pass_axe(
    site: Site, browser: Chromium
) -> None:
    owner = await new_page(browser, DESKTOP)
    long_booking = await _set_up(owner, site)
    axe = Axe()
    problems: list[str] = []
    day = site.day.isoformat()
    for size in SIZES:
        page = await new_page(browser, size)
        await log_in(page, site.one)  # the owner
        await page.goto(site.one + "/admin/audit")
        log = page.locator("ol.audit-log")
        await expect(log).to_contain_text("saved a treatment")
        await expect(log).to_contain_text(ACCENTED)  # as written
        text = await log.inner_text()
        assert "\\u00" not in text, text[:400]
        assert '{"' not in text, text[:400]
        problems += await _problems(page, axe)
        if size != NARROW:
            await site.shoot(page, "roles-audit-log" + ("" if size == DESKTOP else "-phone"))
        for path in [
            "/admin/clients",
            f"/admin/calendar?date={day}",
            f"/admin/bookings/{long_booking}",
        ]:
            await page.goto(site.one + path)
            await expect(page.get_by_text(LONG[:30]).first).to_be_visible()
            problems += await _problems(page, axe, audit=False)
        for path in ["/admin/outbox", "/admin/users"]:
            await page.goto(site.one + path)
            problems += await _problems(page, axe)
        if size == PHONE:
            await site.shoot(page, "roles-staff-accounts-phone")

        desk = await new_page(browser, size)
        await desk.goto(site.one + "/login")
        problems += await _problems(desk, axe)
        await desk.get_by_label("E-mail address").fill(RECEPTION)
        await desk.get_by_label("Password").fill(PASSWORD)
        await desk.get_by_role("button", name="Log in").click()
        await expect(desk.get_by_text(f"Logged in as {RECEPTION} (reception)")).to_be_visible()
        problems += await _problems(desk, axe)
        assert await desk.locator('a[href="/admin/treatments"]').count() == 0
        for path in ["/admin/clients", f"/admin/calendar?date={day}"]:
            await desk.goto(site.one + path)
            problems += await _problems(desk, axe)
        if size == PHONE:
            await site.shoot(desk, "roles-reception-calendar-phone")
        refused = await desk.goto(site.one + "/admin/treatments")
        assert refused is not None
        assert refused.status == 403
        await desk.context.close()
        await page.context.close()
    assert not problems, "\n".join(problems)
