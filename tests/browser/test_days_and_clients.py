"""Real-browser journeys of the booking flow's days and therapists, and of the staff's client
pages: a closed day says why and links the next free one, a therapist is chosen and kept to the
end, the policy stands above the button that binds it; staff find a client, keep a note, export
and erase their data, and make a new manage link, each asked first, at desktop and phone sizes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from playwright.async_api import Page, ViewportSize, expect

from parlour.services.bookings.client_keys import client_id, client_key

from support.browser import DESKTOP, SIZES, Chromium, Site, log_in, new_page
from support.salon import FACIAL

pytestmark = [pytest.mark.redis, pytest.mark.asyncio(loop_scope="module")]
BY_SIZE = pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))


def suffix(size: ViewportSize) -> str:
    return "" if size == DESKTOP else "-phone"


async def fits(page: Page) -> None:
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]} px wide in a {width[1]} px window"


@BY_SIZE
async def test_a_client_goes_from_a_closed_day_to_the_next_free_one_with_a_therapist(
    site: Site, browser: Chromium, size: ViewportSize
) -> None:
    page = await new_page(browser, size)
    saturday = site.day + timedelta(days=5 - site.day.weekday())
    monday = saturday + timedelta(days=2)
    await page.goto(f"{site.one}/book/{FACIAL.id}?date={saturday.isoformat()}")
    status = page.locator(".no-times")
    await expect(status).to_contain_text("No free times on this day.")
    await expect(status).to_contain_text("We are closed on Saturdays.")
    chosen = page.locator(".month-days [aria-current=date]")
    await expect(chosen).to_have_text(f"{saturday.day}: no times")
    await fits(page)
    await site.shoot(page, "16-closed-day-next-free" + suffix(size))
    await page.get_by_role("link", name=f"Next free day: {monday:%A %-d %B}").click()
    await expect(page.get_by_role("heading", name=f"{monday:%A %-d %B %Y}")).to_be_visible()

    # Bob, from the "With" list; the days and times are his from here on.
    await page.get_by_label("With").select_option(label="Bob")
    await page.get_by_role("button", name="Show times").click()
    await expect(
        page.get_by_role("heading", name=f"{monday:%A %-d %B %Y} with Bob")
    ).to_be_visible()
    free_days = page.locator(".month-days a.free")
    assert await free_days.count() > 0
    for href in await free_days.evaluate_all("links => links.map(a => a.href)"):
        assert href.endswith("&resource=r_bob"), href
    await fits(page)
    await site.shoot(page, "17-month-with-a-therapist" + suffix(size))
    await page.locator("ul.slots a.slot").first.click()
    await expect(page.get_by_text(" with Bob")).to_be_visible()

    # The change and cancellation policy stands above "Confirm booking".
    policy = page.locator(".policy")
    await expect(policy).to_contain_text("until 24 hours before it starts")
    confirm = page.get_by_role("button", name="Confirm booking")
    policy_box, button_box = await policy.bounding_box(), await confirm.bounding_box()
    assert policy_box
    assert button_box
    assert policy_box["y"] + policy_box["height"] <= button_box["y"]
    await page.get_by_label("Your name").fill("Bea Booker")
    await page.get_by_label("E-mail address").fill("bea@example.com")
    await page.get_by_label("Phone number").fill("07700 900321")
    await site.shoot(page, "18-details-with-a-therapist" + suffix(size))
    await confirm.click()
    await expect(page.get_by_role("heading", name="You are booked in")).to_be_visible()


@BY_SIZE
async def test_staff_find_a_client_keep_a_note_export_and_erase_their_data(
    site: Site, browser: Chromium, size: ViewportSize
) -> None:
    page = await new_page(browser, size)
    await log_in(page, site.one)
    await page.goto(site.one + "/admin/clients")
    await expect(page.get_by_role("link", name="Client 7")).to_be_visible()
    await page.get_by_label("Name, e-mail or phone").fill("client7@")
    await page.get_by_role("button", name="Find").click()
    await expect(page.get_by_role("link", name="Client 8")).to_have_count(0)
    await fits(page)
    await site.shoot(page, "19-clients" + suffix(size))
    await page.get_by_role("link", name="Client 7").click()
    await expect(page.locator("dl.booking")).to_contain_text("£40.00")  # one massage, done

    await page.get_by_label("Add a note").fill("Likes a quiet room. No lavender oil.")
    await page.get_by_role("button", name="Add note").click()
    await expect(page.locator("ul.notes")).to_contain_text("No lavender oil.")
    await fits(page)
    await site.shoot(page, "20-client-with-notes" + suffix(size))
    page.once("dialog", lambda dialog: dialog.dismiss())  # asked first: dismissed, kept
    await page.get_by_role("button", name="Remove").click()
    await expect(page.locator("ul.notes")).to_contain_text("No lavender oil.")

    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download their data (JSON)").click()
    download = await download_info.value
    path = await download.path()
    data = json.loads(path.read_text())
    assert data["client"]["email"] == "client7@example.com"
    assert [n["text"] for n in data["notes"]] == ["Likes a quiet room. No lavender oil."]
    assert [r["text"] for r in data["reviews"]] == ["Calm, unhurried, lovely."]

    # Erasing asks on a page of its own (no JavaScript needed), and "No" keeps everything.
    await page.get_by_role("link", name="Erase their data").click()
    await expect(
        page.get_by_role("heading", name="Erase Client 7's personal data?")
    ).to_be_visible()
    await fits(page)
    await site.shoot(page, "21-confirm-erase" + suffix(size))
    await page.get_by_role("link", name="No, go back").click()
    await expect(page.get_by_role("heading", name="Client 7")).to_be_visible()
    await page.get_by_role("link", name="Erase their data").click()
    await page.get_by_role("button", name="Yes, erase their data").click()
    await expect(
        page.get_by_text("Erased: 1 booking(s) anonymised, 1 review(s), 1 note(s)")
    ).to_be_visible()
    await expect(page.get_by_role("link", name="Client 7")).to_have_count(0)
    await page.goto(f"{site.one}/booking/{site.reviewed_token}")  # their link is dead
    await expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    await page.goto(f"{site.one}/admin/bookings/{site.reviewed_booking}")  # kept for the books
    await expect(page.get_by_role("heading", name="Erased client: Massage")).to_be_visible()
    await page.goto(site.one + "/admin/audit?what=client.")
    await expect(page.locator("main")).to_contain_text("erased a client's details")
    await expect(page.locator("main")).to_contain_text("exported a client's data")


@BY_SIZE
async def test_staff_give_a_client_a_new_manage_link(
    site: Site, browser: Chromium, size: ViewportSize
) -> None:
    page = await new_page(browser, size)
    await log_in(page, site.one)
    await page.goto(f"{site.one}/admin/bookings/{site.booking}")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="New manage link to send").click()
    link = page.locator(".manage-link a")
    await expect(link).to_be_visible()
    await fits(page)
    await site.shoot(page, "22-new-manage-link" + suffix(size))
    fresh = await link.get_attribute("href")
    assert fresh
    token = fresh.rsplit("/", 1)[1]
    mail = await page.get_by_role("link", name="E-mail it").get_attribute("href")
    assert mail
    assert mail.startswith("mailto:client8@example.com?subject=")
    assert token in mail
    client = await new_page(browser, size)
    await client.goto(f"{site.one}/booking/{site.token}")  # the old link no longer opens it
    await expect(client.get_by_role("heading", name="Page not found")).to_be_visible()
    await client.goto(f"{site.one}/booking/{token}")
    await expect(client.locator(".status")).to_have_text("confirmed")
    # The client's history is a tap away from the booking.
    await page.goto(f"{site.one}/admin/bookings/{site.booking}")
    await page.get_by_role("link", name="Client history and notes").click()
    ident = client_id(client_key("client8@example.com", ""))
    await expect(page.get_by_role("link", name="Client 8")).to_have_attribute(
        "href", f"/admin/clients/{ident}"
    )
