"""The public booking pages and a client's booking page say what is so (issue 24, defects 6, 7,
8, 9, 11, 12, 14 and 15): a booked-in banner only for a booking as it was made, a form sent
again finds its own booking, a day off is not "closed", a lost time keeps what was typed, the
therapist is named, impossible times are refused before a form, and only bookings made count
against the booking limit."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.domain.booking import Booking
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import FACIAL, MASSAGE, ask, at, client, furnish, upcoming_weekday
from support.web import form_token, log_in, running

PASSWORD = "correct horse battery"
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@dataclass
class Site:
    app: Starlette
    day: date

    def browser(self) -> httpx.AsyncClient:
        """A browser of its own: its own cookies (a visitor), from the shared address."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )


@asynccontextmanager
async def salon(tmp_path: Path, limit: str) -> AsyncIterator[Site]:
    settings = load_settings(env_file=None, data_dir=tmp_path, booking_rate_limit=limit)
    app = create_app(settings)
    async with running(app):
        await furnish(parts(app).storage.kv, phone="01225 555 0100")
        await core(app).accounts.create_user("admin@example.com", "admin", PASSWORD)
        yield Site(app, upcoming_weekday())


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with salon(tmp_path, "3/15 minutes") as made:
        yield made


async def details(
    browser: httpx.AsyncClient, start: str, treatment: str = MASSAGE.id, resource: str = ""
) -> httpx.Response:
    params = {"start": start, **({"resource": resource} if resource else {})}
    return await browser.get(f"/book/{treatment}/details", params=params)


async def send(
    browser: httpx.AsyncClient,
    page: httpx.Response,
    start: str,
    n: int = 0,
    treatment: str = MASSAGE.id,
    resource: str = "",
) -> httpx.Response:
    """The details form of ``page`` sent for Client ``n``."""
    assert page.status_code == 200, page.text
    return await browser.post(
        f"/book/{treatment}/details",
        data={
            "csrf_token": form_token(page.text),
            "idempotency_key": KEY.search(page.text)[1],  # type: ignore[index]
            "start": start,
            "resource": resource,
            **client(n),
        },
    )


async def book(
    browser: httpx.AsyncClient,
    start: str,
    n: int = 0,
    treatment: str = MASSAGE.id,
    resource: str = "",
) -> httpx.Response:
    return await send(
        browser, await details(browser, start, treatment, resource), start, n, treatment, resource
    )


def manage_path(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/booking/"), location
    return location.split("?")[0]


async def booking_at(site: Site, path: str) -> Booking:
    return await core(site.app).bookings.by_token(path.rsplit("/", 1)[1])


# -- 6: a bookmarked confirmation after a cancellation or a move ------------------------------


async def test_a_bookmarked_confirmation_says_booked_in_only_while_the_booking_is_as_made(
    site: Site,
) -> None:
    browser = site.browser()
    cancelled = manage_path(await book(browser, at(10, day=site.day), 1))
    moved = manage_path(await book(browser, at(11, day=site.day), 2))
    kept = manage_path(await book(browser, at(12, day=site.day), 3))
    bookings = core(site.app).bookings
    await bookings.cancel(await booking_at(site, cancelled), by_client=False)
    later = datetime.fromisoformat(at(14, day=site.day))
    await bookings.reschedule(await booking_at(site, moved), later, by_client=False)

    fresh = await browser.get(f"{kept}?new=1")
    assert "You are booked in" in fresh.text
    for path in (cancelled, moved):
        page = await browser.get(f"{path}?new=1")
        assert page.status_code == 200
        assert "You are booked in" not in page.text
        assert "Bookmark it now" not in page.text
        assert "<h1>Your booking</h1>" in page.text
    page = await browser.get(f"{cancelled}?new=1")
    assert "This booking is cancelled." in page.text
    page = await browser.get(f"{moved}?new=1")
    assert "This booking has changed since it was made" in page.text
    assert "14:00" in page.text


# -- 7 and 15: a form sent again, and failed tries, do not count ------------------------------


async def test_back_and_resend_finds_the_clients_own_booking_and_counts_once(site: Site) -> None:
    browser = site.browser()
    start = at(10, day=site.day)
    first = manage_path(await book(browser, start, 1))
    for _ in range(3):  # Back fetches the form anew (a new idempotency key), then resend
        again = await book(browser, start, 1)
        assert manage_path(again) == first, again.text
    bookings = await core(site.app).bookings.day(site.day, ["r_ann", "r_bob"])
    assert len(bookings) == 1
    # Three bookings in 15 minutes: the resends were not counted, so two more can be made.
    assert manage_path(await book(browser, at(11, day=site.day), 1))
    assert manage_path(await book(browser, at(12, day=site.day), 1))
    refused = await book(browser, at(13, day=site.day), 1)
    assert refused.status_code == 429


async def test_someone_else_sending_the_same_details_does_not_get_the_booking(
    site: Site,
) -> None:
    start = at(10, day=site.day)
    first = manage_path(await book(site.browser(), start, 1))
    other = await book(site.browser(), start, 1)  # another browser: no way into that booking
    assert other.status_code == 303
    assert not other.headers["location"].startswith(first)
    assert "taken=1" in other.headers["location"]


async def test_times_lost_do_not_count_against_the_limit_of_a_shared_tablet(site: Site) -> None:
    start = at(10, day=site.day)
    assert manage_path(await book(site.browser(), start, 1))
    tablet = site.browser()  # the same address, as every test browser has
    for n in range(2, 6):  # four tries at a time just taken
        lost = await book(tablet, start, n)
        assert lost.status_code == 303, lost.text
        assert "taken=1" in lost.headers["location"]
    assert manage_path(await book(tablet, at(11, day=site.day), 6))


async def test_every_try_still_counts_against_a_flood(tmp_path: Path) -> None:
    async with salon(tmp_path, "1/15 minutes") as site:  # tries: ten in 15 minutes
        start = at(10, day=site.day)
        await core(site.app).bookings.book(
            ask({"treatment": MASSAGE.id, "start": start, **client(1)}, staff=True)
        )
        answers = [(await book(site.browser(), start, n)).status_code for n in range(2, 13)]
        assert answers == [303] * 10 + [429]


# -- 8: a day off of the one therapist who does a treatment ----------------------------------


async def test_a_day_only_the_treatments_therapist_has_off_is_not_called_closed(
    site: Site,
) -> None:
    catalogue = core(site.app).catalogue
    ann = next(r for r in await catalogue.resources() if r.id == "r_ann")
    await catalogue.put_resource(
        replace(ann, schedule=replace(ann.schedule, closed=frozenset({site.day})))
    )
    page = await site.browser().get(f"/book/{MASSAGE.id}", params={"date": site.day.isoformat()})
    assert page.status_code == 200
    assert f"We are closed on {site.day:%A %-d %B}" not in page.text  # Saturdays are, rightly
    assert f"No one who does Massage works on {site.day:%A %-d %B}." in page.text
    assert re.search(r">Next free day: [^<]+</a>", page.text)
    facial = await site.browser().get(f"/book/{FACIAL.id}", params={"date": site.day.isoformat()})
    assert 'class="slot"' in facial.text  # Bob works that day


# -- 9: a time just taken keeps what was typed and the therapist ------------------------------


async def test_a_time_just_taken_keeps_the_details_and_the_therapist_without_a_post_page(
    site: Site,
) -> None:
    start = at(11, day=site.day)
    assert manage_path(await book(site.browser(), start, 1, FACIAL.id, "r_bob"))
    late = site.browser()
    page = await details(late, start, FACIAL.id, "r_bob")
    form = {
        "csrf_token": form_token(page.text),
        "idempotency_key": KEY.search(page.text)[1],  # type: ignore[index]
        "start": start,
        "resource": "r_bob",
        "name": "Late Larry",
        "email": "larry@example.com",
        "phone": "07700 900999",
    }
    lost = await late.post(f"/book/{FACIAL.id}/details", data=form)
    assert lost.status_code == 303  # a GET answers, so Back never asks to send the form again
    taken = await late.get(lost.headers["location"])
    assert taken.status_code == 409
    assert "This time was just taken" in taken.text
    assert "Nothing was booked for you" in taken.text
    text = html.unescape(taken.text)
    alternatives = re.findall(r'href="(/book/t_facial/details\?[^"]+)"', text)
    assert alternatives
    assert all(a.endswith("&resource=r_bob") for a in alternatives)
    every = re.search(r'href="([^"]+)">See every time that day', text)
    assert every
    assert every[1] == f"/book/{FACIAL.id}?date={site.day.isoformat()}&resource=r_bob"
    again = await late.get(alternatives[0])
    assert again.status_code == 200
    for typed in ('value="Late Larry"', 'value="larry@example.com"', 'value="07700 900999"'):
        assert typed in again.text
    assert "with Bob" in again.text
    booked = await send_typed(late, again, alternatives[0])
    assert manage_path(booked)
    after = await late.get(alternatives[0])  # the details were for that booking only
    assert 'value="Late Larry"' not in after.text


async def send_typed(browser: httpx.AsyncClient, page: httpx.Response, link: str) -> httpx.Response:
    start = re.search(r'name="start" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    return await browser.post(
        link.split("?", maxsplit=1)[0],
        data={
            "csrf_token": form_token(page.text),
            "idempotency_key": KEY.search(page.text)[1],  # type: ignore[index]
            "start": html.unescape(start),
            "resource": "r_bob",
            "name": "Late Larry",
            "email": "larry@example.com",
            "phone": "07700 900999",
        },
    )


# -- 11: the therapist is named ---------------------------------------------------------------


async def test_the_confirmation_manage_and_move_pages_and_the_calendar_file_name_the_therapist(
    site: Site,
) -> None:
    browser = site.browser()
    path = manage_path(await book(browser, at(10, day=site.day), 1, FACIAL.id, "r_bob"))
    for page in (f"{path}?new=1", path, f"{path}/reschedule"):
        answer = await browser.get(page)
        assert "<dt>With</dt><dd>Bob</dd>" in answer.text, page
    ics = (await browser.get(f"{path}/calendar.ics")).text
    assert "SUMMARY:Facial with Bob at Test Salon" in ics


# -- 12: impossible times are refused before a form ------------------------------------------


@pytest.mark.parametrize(
    ("start", "says"),
    [
        ("2020-01-01T10:00:00+00:00", "That time has passed"),
        ("{day}T03:00:00+00:00", "outside the hours it is done"),
        ("{day}T10:07:00+00:00", "Times start every 15 minutes; 10:07 is not one of them"),
    ],
    ids=["past", "night", "off-grid"],
)
async def test_the_details_step_refuses_an_impossible_time_before_showing_a_form(
    site: Site, start: str, says: str
) -> None:
    page = await details(site.browser(), start.format(day=site.day.isoformat()))
    assert page.status_code == 422
    assert says in page.text
    assert 'name="idempotency_key"' not in page.text  # no form to fill in for nothing
    assert "See the times" in page.text


async def test_a_time_inside_the_notice_names_the_notice(site: Site) -> None:
    catalogue = core(site.app).catalogue
    business = await catalogue.business()
    await catalogue.put_business(
        replace(business, rules=replace(business.rules, min_notice=14 * 24 * 60))
    )
    page = await details(site.browser(), at(10, day=site.day))
    assert page.status_code == 422
    assert "We need 14 days notice" in page.text
    assert "01225 555 0100" in page.text
    sent = await site.browser().post(  # a form sent anyway (no cookies: no token needed)
        f"/book/{MASSAGE.id}/details", data={"start": at(10, day=site.day), **client(1)}
    )
    assert sent.status_code == 422
    assert "We need 14 days notice" in sent.text


# -- 14: a cancelled booking's page; a booking without an e-mail address ----------------------


async def test_a_cancelled_booking_offers_booking_again_not_the_calendar(site: Site) -> None:
    browser = site.browser()
    path = manage_path(await book(browser, at(10, day=site.day), 1))
    before = await browser.get(path)
    assert "calendar.ics" in before.text
    await core(site.app).bookings.cancel(await booking_at(site, path), by_client=False)
    after = await browser.get(path)
    assert "calendar.ics" not in after.text
    assert f'href="/book/{MASSAGE.id}">Book Massage again</a>' in after.text


async def test_a_booking_without_an_email_shows_no_empty_separators(site: Site) -> None:
    booked = await core(site.app).bookings.book(
        ask(
            {"treatment": MASSAGE.id, "start": at(10, day=site.day), **client(4, email="")},
            staff=True,
        )
    )
    staff = site.browser()
    await log_in(staff, "admin@example.com", PASSWORD)
    page = await staff.get(f"/admin/bookings/{quote(booked.booking.id)}")
    assert page.status_code == 200
    assert 'href="mailto:"' not in page.text
    assert re.search(r"Client 4 · <a href=\"tel:", page.text), page.text
