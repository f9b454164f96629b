"""Real-browser journeys: headless Chromium (the system's) driving two `parlour serve` instances
on one Redis, the way a client and a member of staff use them, at desktop (1280x800) and phone
(390x844) sizes."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image
from playwright.async_api import Page, ViewportSize, expect

from support.browser import DESKTOP, PASSWORD, SIZES, STAFF, Chromium, Site, log_in, new_page
from support.salon import FACIAL, MASSAGE, at, client

pytestmark = [pytest.mark.redis, pytest.mark.asyncio(loop_scope="module")]
BY_SIZE = pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))


def suffix(size: ViewportSize) -> str:
    return "" if size == DESKTOP else "-phone"


async def fits(page: Page) -> None:
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]} px wide in a {width[1]} px window"


@BY_SIZE
async def test_a_client_reads_the_policy_books_and_cancels(
    site: Site, browser: Chromium, size: ViewportSize
) -> None:
    page = await new_page(browser, size)
    await page.goto(site.one + "/")
    await expect(page.get_by_role("heading", name="Opening hours")).to_be_visible()
    await site.shoot(page, "01-home" + suffix(size))
    await page.goto(site.one + "/book")
    await site.shoot(page, "02-treatments" + suffix(size))
    await page.get_by_role("link", name=f"Book {MASSAGE.name}").click()
    await page.get_by_label("Day", exact=True).fill(site.day.isoformat())
    await page.get_by_role("button", name="Show times").click()
    heading = site.day.strftime("%A %-d %B %Y")
    await expect(page.get_by_role("heading", name=heading)).to_be_visible()
    await fits(page)  # the time buttons used to overlap and push the page sideways
    await site.shoot(page, "03-choose-a-time" + suffix(size))
    await page.locator("ul.slots a.slot").nth(2).click()

    # The change and cancellation policy is on the page, above the button that binds it.
    policy = page.locator(".policy")
    await expect(policy).to_contain_text("until 24 hours before it starts")
    await expect(policy.get_by_role("link", name="01225 555 0100")).to_have_attribute(
        "href", "tel:012255550100"
    )
    confirm = page.get_by_role("button", name="Confirm booking")
    policy_box, button_box = await policy.bounding_box(), await confirm.bounding_box()
    assert policy_box
    assert button_box
    assert policy_box["y"] + policy_box["height"] <= button_box["y"]
    await page.get_by_label("Your name").fill("Zoë Ångström-O'Neil")
    await page.get_by_label("E-mail address").fill("zoe@example.com")
    await page.get_by_label("Phone number").fill("+44 7700 900123")
    await site.shoot(page, "04-your-details" + suffix(size))
    await confirm.click()
    await expect(page.get_by_role("heading", name="You are booked in")).to_be_visible()
    await expect(page.get_by_text("Zoë Ångström-O'Neil")).to_be_visible()
    await site.shoot(page, "05-booked" + suffix(size))
    manage_link = page.url.split("?")[0]

    # The private link, opened later on the other instance: the booking is there. The first
    # "Cancel booking" is dismissed in its dialog and changes nothing.
    await page.goto(manage_link.replace(site.one, site.two))
    await expect(page.locator(".status")).to_have_text("confirmed")
    page.once("dialog", lambda dialog: dialog.dismiss())
    await page.get_by_role("button", name="Cancel booking").click()
    await expect(page.locator(".status")).to_have_text("confirmed")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Cancel booking").click()
    await expect(page.get_by_text("Your booking is cancelled.")).to_be_visible()
    await expect(page.locator(".status")).to_have_text("cancelled")
    await site.shoot(page, "06-cancelled" + suffix(size))


@BY_SIZE
async def test_a_booking_from_another_instance_appears_on_the_grid_without_a_reload(
    site: Site, browser: Chromium, size: ViewportSize
) -> None:
    page = await new_page(browser, size)
    await page.goto(site.one + "/login")
    await site.shoot(page, "07-login" + suffix(size))
    await log_in(page, site.one)
    await site.shoot(page, "08-today" + suffix(size))

    await page.goto(f"{site.one}/admin/calendar?date={site.day.isoformat()}")
    ann = page.locator("#lane-r_ann")
    await expect(ann.get_by_role("heading", name="Ann")).to_be_visible()
    facial = ann.locator("a.block").filter(has_text="Client 8")
    await expect(facial).to_be_visible()
    arrival = ann.locator("a.block").filter(has_text="Client 42")
    await expect(arrival).to_have_count(0)
    async with httpx.AsyncClient(base_url=site.two) as other_instance:
        made = await other_instance.post(
            "/api/bookings",
            json={"treatment": MASSAGE.id, "start": at(14, day=site.day), **client(42)},
        )
        assert made.status_code == 201, made.text
    await expect(arrival).to_be_visible()  # no reload: the page's event stream brought it
    await expect(arrival).to_contain_text("14:00\u201314:30 Client 42")
    # Blocks are as tall as they last: the facial holds 80 minutes (60 and 10 either side),
    # the massage 30.
    tall, short = await facial.bounding_box(), await arrival.bounding_box()
    assert tall
    assert short
    assert abs(tall["height"] / short["height"] - 80 / 30) < 0.1
    await fits(page)
    await site.shoot(page, "09-calendar-live" + suffix(size))

    # The switcher shows one therapist's column; the week view is per therapist.
    await page.get_by_role("navigation", name="Whose day").get_by_role("link", name="Bob").click()
    await expect(page.locator("section.lane")).to_have_count(1)
    await expect(page.locator("#lane-r_bob")).to_be_visible()
    await page.get_by_role("link", name="Week view").click()
    await expect(page.locator("section.lane")).to_have_count(7)
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Bob")
    chosen = await page.locator(f"#lane-{site.day.isoformat()}").bounding_box()
    assert chosen
    # The day asked for is in view: on a phone the week opens there, not at Monday.
    assert chosen["x"] >= 0
    assert chosen["x"] + chosen["width"] <= size["width"] + 1
    await fits(page)
    await site.shoot(page, "13-calendar-week" + suffix(size))


@BY_SIZE
async def test_staff_confirm_each_change_and_book_from_a_free_cell(
    site: Site, browser: Chromium, size: ViewportSize
) -> None:
    page = await new_page(browser, size)
    await log_in(page, site.one)
    booking_page = f"{site.one}/admin/bookings/{site.booking}"

    # With JavaScript: a dialog asks; dismissing it changes nothing.
    await page.goto(booking_page)
    await expect(page.locator(".slot.current")).to_contain_text("11:00")  # the time it has now
    day_picker = page.get_by_label("Day", exact=True)
    assert await day_picker.get_attribute("min") == await page.evaluate(
        "new Date().toLocaleDateString('en-CA', {timeZone: 'Europe/London'})"
    )
    await page.get_by_label("Status").select_option("cancelled")
    page.once("dialog", lambda dialog: dialog.dismiss())
    await page.get_by_role("button", name="Set status").click()
    await expect(page.locator("dd.status")).to_have_text("confirmed")

    # Without JavaScript: a confirmation page, whose "No, go back" changes nothing either.
    plain = await new_page(browser, size, javascript=False)
    await log_in(plain, site.one)
    await plain.goto(booking_page)
    await plain.get_by_label("Status").select_option("cancelled")
    await plain.get_by_role("button", name="Set status").click()
    await expect(plain.get_by_role("heading", name="Cancel Client 8's Facial?")).to_be_visible()
    await site.shoot(plain, "14-confirm-cancel" + suffix(size))
    await plain.get_by_role("link", name="No, go back").click()
    await expect(plain.locator("dd.status")).to_have_text("confirmed")
    await plain.get_by_label("Status").select_option("cancelled")
    await plain.get_by_role("button", name="Set status").click()
    await plain.get_by_role("button", name="Yes, cancel it").click()
    await expect(plain.locator("dd.status")).to_have_text("cancelled")

    # Deleting a photo asks first too.
    await plain.goto(site.one + "/admin/gallery")
    await plain.get_by_role("button", name="Delete").click()
    await expect(plain.get_by_role("heading", name="Delete the photo “The room”?")).to_be_visible()
    await plain.get_by_role("button", name="Yes, delete it").click()
    await expect(plain.get_by_role("img", name="The room")).to_have_count(0)

    # A free cell of the grid starts a booking there: Bob at 15:00.
    await page.goto(f"{site.one}/admin/calendar?date={site.day.isoformat()}")
    await page.locator('#lane-r_bob a.free[data-time="15:00"]').click()
    await expect(page.get_by_role("heading", name="New booking with Bob")).to_be_visible()
    await page.get_by_label("Treatment").select_option(FACIAL.id)
    await page.get_by_role("button", name="Show times").click()
    await expect(page.get_by_label("Time")).to_have_value(at(15, day=site.day))
    await page.get_by_label("Client's name").fill("Walk-in Wendy")
    await page.get_by_label("Client's e-mail").fill("wendy@example.com")
    await page.get_by_label("Client's phone").fill("07700 900555")
    await page.get_by_role("button", name="Book").click()
    await expect(page.get_by_role("heading", name="Walk-in Wendy: Facial")).to_be_visible()
    await expect(page.locator("dl.booking")).to_contain_text("Bob")
    await expect(page.locator("dl.booking")).to_contain_text("15:00")


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
    Image.new("RGB", (640, 480), (140, 170, 150)).save(picture, "PNG")
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
    await site.shoot(page, "15-api-docs")
    outside = [url for url in requested if not url.startswith((site.one, "data:"))]
    assert outside == [], f"the docs page reached outside the site: {outside}"
