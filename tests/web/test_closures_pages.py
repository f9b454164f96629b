"""Time not for booking over bookings already made (issue 24): a day off, leave, blocked hours or
a salon closure lists the bookings in its way and saves only once each is moved, cancelled or
kept; the client hears of a move or a cancellation through the outbox."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.domain.booking import Booking, Status
from parlour.web.parts import core

from support.salon import FACIAL, MASSAGE, ask, at, client, upcoming_weekday
from support.web import post_form, staffed

ANN = "/admin/resources/r_ann"
WEEKDAY_HOURS = {f"hours_{weekday}": "09:00-17:00" for weekday in range(5)}


@dataclass
class Salon:
    app: Starlette
    staff: httpx.AsyncClient
    day: date
    booking: Booking


@pytest.fixture
async def salon(tmp_path: Path) -> AsyncIterator[Salon]:
    async with staffed(tmp_path) as (app, staff):
        day = upcoming_weekday()
        booked = await core(app).bookings.book(
            ask({"treatment": MASSAGE.id, "start": at(10, day=day), **client(4)})
        )
        yield Salon(app, staff, day, booked.booking)


async def _client_messages(app: Starlette, kind: str) -> list[str]:
    listing = await core(app).outboxes.of("bookings").listing(2e9)
    return [
        address
        for messages in listing.values()
        for m in messages
        if m.kind == kind
        for address in m.to
    ]


async def test_a_day_off_over_a_booking_is_not_saved_until_the_booking_is_dealt_with(
    salon: Salon,
) -> None:
    """Defect 4: a day off added on a day holding a booking saved without a word."""
    day_off = {"name": "Ann", "active": "on", **WEEKDAY_HOURS, "closed": salon.day.isoformat()}
    asked = await post_form(salon.staff, ANN, ANN, **day_off)
    assert asked.status_code == 200
    assert "1 booking falls in this time" in asked.text
    assert "Client 4" in asked.text
    schedule = (await core(salon.app).catalogue.resource("r_ann")).schedule
    assert salon.day not in schedule.closed, "saved before the booking was dealt with"

    unanswered = await post_form(salon.staff, ANN, ANN, **day_off, settling="yes")
    assert unanswered.status_code == 422
    assert "Choose to move, cancel or keep this booking." in unanswered.text

    choice = {f"choice_{salon.booking.id}": "cancel"}
    done = await post_form(salon.staff, ANN, ANN, **day_off, settling="yes", **choice)
    assert done.status_code == 303
    schedule = (await core(salon.app).catalogue.resource("r_ann")).schedule
    assert salon.day in schedule.closed
    cancelled = await core(salon.app).bookings.get(salon.booking.id)
    assert cancelled.status is Status.CANCELLED
    assert "client4@example.com" in await _client_messages(salon.app, "cancelled")
    page = await salon.staff.get("/admin/resources")
    assert "Cancelled 1 booking; the client is told." in page.text


async def test_blocked_hours_over_a_booking_move_it_to_a_listed_time(salon: Salon) -> None:
    weekday = salon.day.strftime("%A")
    lunch = {
        "name": "Ann",
        "active": "on",
        **WEEKDAY_HOURS,
        "blocked": f"{weekday}s 10:00-11:00 Training",
    }
    asked = await post_form(salon.staff, ANN, ANN, **lunch)
    assert "1 booking falls in this time" in asked.text
    # Ann alone does massages: the times offered are hers that day, around the training.
    select = asked.text.split(f'name="move_{salon.booking.id}"')[1].split("</select>")[0]
    offered = re.findall(r'value="([^"]+)"', select)
    assert offered[:3] == [at(9, day=salon.day), at(9, 15, salon.day), at(9, 30, salon.day)]
    assert offered[3] == at(11, day=salon.day)
    first = offered[3]
    moving = {f"choice_{salon.booking.id}": "move", f"move_{salon.booking.id}": first}
    done = await post_form(salon.staff, ANN, ANN, **lunch, settling="yes", **moving)
    assert done.status_code == 303
    moved = await core(salon.app).bookings.get(salon.booking.id)
    assert moved.start.isoformat() == first
    assert "client4@example.com" in await _client_messages(salon.app, "moved")
    _, slots = await core(salon.app).bookings.availability(FACIAL.id, salon.day, staff=True)
    assert at(10, day=salon.day) not in [
        s.start.isoformat() for s in slots if "r_ann" in s.resource_ids
    ]
    form = await salon.staff.get(ANN)
    assert f"{weekday}s 10:00-11:00 Training" in form.text
    listed = await salon.staff.get("/admin/resources")
    assert f"{weekday}s 10:00-11:00 Training" in listed.text
    # The calendar says what the shaded hour is for, over it (it was grey, and said nothing).
    calendar = await salon.staff.get(f"/admin/calendar?date={salon.day.isoformat()}")
    note = re.search(r'<p class="note at-(\d+) span-(\d+)">Training</p>', calendar.text)
    assert note, calendar.text
    assert (int(note[1]), int(note[2])) == (13, 12)  # 10:00 (09:00 is row 1), an hour of 5-min rows


async def test_a_move_to_a_time_not_listed_is_refused_and_nothing_saved(salon: Salon) -> None:
    leave = {
        "name": "Ann",
        "active": "on",
        **WEEKDAY_HOURS,
        "closed": f"{salon.day} to {salon.day + timedelta(days=7)} Holiday",
    }
    moving = {
        f"choice_{salon.booking.id}": "move",
        f"move_{salon.booking.id}": at(10, day=salon.day),
    }
    refused = await post_form(salon.staff, ANN, ANN, **leave, settling="yes", **moving)
    assert refused.status_code == 422
    assert "Choose one of the listed times to move it to." in refused.text
    for garbage in ("tomorrow", "2026-12-10T10:00", ""):
        moving[f"move_{salon.booking.id}"] = garbage
        again = await post_form(salon.staff, ANN, ANN, **leave, settling="yes", **moving)
        assert again.status_code == 422, garbage
    assert not (await core(salon.app).catalogue.resource("r_ann")).schedule.blocks
    assert (await core(salon.app).bookings.get(salon.booking.id)).start == salon.booking.start


async def test_a_salon_closure_can_keep_a_booking_and_says_so(salon: Salon) -> None:
    closure = {"first": salon.day.isoformat(), "last": "", "start": "", "end": "", "label": "Flood"}
    asked = await post_form(salon.staff, "/admin/closures", "/admin/closures", **closure)
    assert "1 booking falls in this time" in asked.text
    assert not await core(salon.app).catalogue.closures()
    keep = {f"choice_{salon.booking.id}": "keep"}
    done = await post_form(
        salon.staff, "/admin/closures", "/admin/closures", **closure, settling="yes", **keep
    )
    assert done.status_code == 303
    (saved,) = await core(salon.app).catalogue.closures()
    assert str(saved) == f"{salon.day} Flood"
    assert (await core(salon.app).bookings.get(salon.booking.id)).status is Status.CONFIRMED
    _, slots = await core(salon.app).bookings.availability(FACIAL.id, salon.day, staff=True)
    assert slots == []
    page = await salon.staff.get("/admin/closures")
    assert "Kept 1 booking as booked." in page.text
    assert f"{salon.day} Flood" in page.text
    public = await salon.staff.get(f"/book/{FACIAL.id}?date={salon.day}")
    assert f"We are closed on {salon.day:%A %-d %B}." in public.text  # not "every time is booked"
    removed = await post_form(
        salon.staff, "/admin/closures", "/admin/closures/remove", closure=f"{salon.day} Flood"
    )
    assert removed.status_code == 303
    assert not await core(salon.app).catalogue.closures()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"first": ""}, "first", "Enter the first day"),
        ({"first": "24/12/2026"}, "first", "Write the date like 2026-12-24"),
        ({"first": "2026-12-24", "last": "2026-12-01"}, "last", "The last day is before the first"),
        ({"first": "2026-12-24", "start": "14:00"}, "end", "Give both times"),
        ({"first": "2026-12-24", "start": "14:00", "end": "13:00"}, "end", "Give both times"),
    ],
    ids=["no-day", "bad-day", "backwards", "one-time", "times-backwards"],
)
async def test_a_closure_that_is_not_one_is_refused_with_a_reason(
    salon: Salon, fields: dict[str, str], field: str, message: str
) -> None:
    refused = await post_form(salon.staff, "/admin/closures", "/admin/closures", **fields)
    assert refused.status_code == 422
    assert f'id="f-{field}-error"' in refused.text
    assert message in refused.text


async def test_blocked_time_written_wrongly_is_refused_with_an_example(salon: Salon) -> None:
    refused = await post_form(
        salon.staff, ANN, ANN, name="Ann", active="on", blocked="lunch at noon"
    )
    assert refused.status_code == 422
    assert "Tuesdays 12:00-13:00 Lunch" in refused.text


async def test_the_change_travels_whole_in_the_asking_page(salon: Salon) -> None:
    """The page that asks carries the form as it was written (several lines, quotes, accents)
    and sending it back saves exactly that."""
    leave = {
        "name": 'Ann "Zoë" Ó',
        "active": "on",
        **WEEKDAY_HOURS,
        "closed": f"2027-01-01\n{salon.day} to {salon.day + timedelta(days=2)} Congé d'été",
        "blocked": "Mondays 12:00-13:00 Lunch\nEvery day 16:30-17:00 Tidy",
    }
    asked = await post_form(salon.staff, ANN, ANN, **leave)
    hidden = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', asked.text
        )
    }
    assert {name: hidden[name] for name in leave} == leave
    hidden[f"choice_{salon.booking.id}"] = "keep"
    done = await salon.staff.post(ANN, data=hidden)
    assert done.status_code == 303
    ann = await core(salon.app).catalogue.resource("r_ann")
    assert ann.name == 'Ann "Zoë" Ó'
    assert [str(b) for b in ann.schedule.blocks] == [
        f"{salon.day} to {salon.day + timedelta(days=2)} Congé d'été",
        "Mondays 12:00-13:00 Lunch",
        "Every day 16:30-17:00 Tidy",
    ]
    assert date(2027, 1, 1) in ann.schedule.closed


async def test_a_weekly_closure_takes_that_weekday_out_of_booking(salon: Salon) -> None:
    later = salon.day + timedelta(days=7)
    weekly = {"first": later.isoformat(), "start": "13:00", "end": "17:00", "weekly": "on"}
    saved = await post_form(salon.staff, "/admin/closures", "/admin/closures", **weekly)
    assert saved.status_code == 303
    (closure,) = await core(salon.app).catalogue.closures()
    assert str(closure) == f"{later:%A}s from {later} 13:00-17:00"
    for day in (later, later + timedelta(days=7)):
        _, slots = await core(salon.app).bookings.availability(FACIAL.id, day, staff=True)
        assert slots, day
        assert max(s.start for s in slots).isoformat() < at(13, day=day)
    _, before = await core(salon.app).bookings.availability(FACIAL.id, salon.day, staff=True)
    assert max(s.start for s in before).isoformat() > at(13, day=salon.day)
    page = await salon.staff.get("/admin/closures")
    assert f"The salon is closed every {later:%A} from {later:%-d %B %Y}, 13:00-17:00." in page.text


async def test_taking_a_therapist_off_the_books_asks_about_their_bookings_first(
    salon: Salon,
) -> None:
    retired = {"name": "Ann", "active": "", **WEEKDAY_HOURS}
    asked = await post_form(salon.staff, ANN, ANN, **retired)
    assert "1 booking falls in this time" in asked.text
    assert (await core(salon.app).catalogue.resource("r_ann")).active
