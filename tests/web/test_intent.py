"""What the salon and its clients mean, kept by the pages (issue 24): a move keeps the therapist
asked for and says when it changes, client moves and cancels are asked about first, staff change
a therapist alone, the desk's times follow the chosen therapist, and today's list offers only
what may be done now."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.domain.booking import Status
from parlour.domain.schedule import to_utc
from parlour.services.bookings.engine import BookingService
from parlour.web.parts import core, parts

from support.salon import FACIAL, LONDON, MASSAGE, ask, at, client, upcoming_weekday
from support.web import form_token, post_form, staffed


@dataclass
class Salon:
    app: Starlette
    staff: httpx.AsyncClient
    day: date

    def visitor(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )

    async def book(self, hour: int, resource: str, n: int, *, staff: bool = False) -> str:
        """A facial with ``resource`` asked for by name; its manage token."""
        fields = {"treatment": FACIAL.id, "start": at(hour, day=self.day), **client(n)}
        booked = await core(self.app).bookings.book(
            ask({**fields, "resource": resource}, staff=staff)
        )
        return booked.token


@pytest.fixture
async def salon(tmp_path: Path) -> AsyncIterator[Salon]:
    async with staffed(tmp_path) as (app, staff):
        yield Salon(app, staff, upcoming_weekday())


async def test_a_client_move_keeps_their_therapist_and_says_when_it_changes(
    salon: Salon,
) -> None:
    """Defects 1 and 16: booked with Ann, "Move" listed everyone's times and one tap moved it
    to Bob, unasked and unsaid."""
    token = await salon.book(10, "r_ann", 1)
    await salon.book(14, "r_ann", 2)  # Ann is busy at 14:00, Bob is free
    path = f"/booking/{token}"
    fourteen = at(14, day=salon.day)
    async with salon.visitor() as visitor:
        page = await visitor.get(f"{path}/reschedule", params={"date": salon.day.isoformat()})
        assert f'value="{fourteen}"' not in page.text  # only Ann's times
        assert "Times with Ann, your therapist now." in page.text
        csrf = form_token(page.text)
        asked = await visitor.post(
            f"{path}/reschedule", data={"csrf_token": csrf, "start": fourteen}
        )
        assert asked.status_code == 200  # asked first, nothing moved yet
        assert "Move your booking to" in asked.text
        booking = await core(salon.app).bookings.by_token(token)
        assert (booking.start.isoformat(), booking.resource_id) == (at(10, day=salon.day), "r_ann")
        kept = await visitor.post(
            f"{path}/reschedule", data={"csrf_token": csrf, "start": fourteen, "confirmed": "yes"}
        )
        assert kept.status_code == 409
        assert "Ann is not free at that time" in kept.text
        with_bob = {"csrf_token": csrf, "start": fourteen, "resource": "r_bob"}
        asked = await visitor.post(f"{path}/reschedule", data=with_bob)
        assert "Your therapist changes: you will be with Bob, not Ann." in asked.text
        moved = await visitor.post(f"{path}/reschedule", data={**with_bob, "confirmed": "yes"})
        assert moved.headers["location"].endswith("?done=moved-therapist")
        said = await visitor.get(moved.headers["location"])
        assert "your therapist has changed: you are now with <strong>Bob</strong>" in said.text
        booking = await core(salon.app).bookings.by_token(token)
        assert (booking.start.isoformat(), booking.resource_id) == (fourteen, "r_bob")


async def test_a_client_cancel_without_javascript_asks_first(salon: Salon) -> None:
    """Defect 16: the cancel button cancelled at once when JavaScript did not ask."""
    token = await salon.book(10, "r_ann", 1)
    async with salon.visitor() as visitor:
        page = await visitor.get(f"/booking/{token}")
        asked = await visitor.post(
            f"/booking/{token}/cancel", data={"csrf_token": form_token(page.text)}
        )
        assert asked.status_code == 200
        assert "Cancel your booking?" in asked.text
        assert (await core(salon.app).bookings.by_token(token)).status is Status.CONFIRMED
        done = await visitor.post(
            f"/booking/{token}/cancel",
            data={"csrf_token": form_token(asked.text), "confirmed": "yes"},
        )
        assert done.headers["location"].endswith("?done=cancelled")
        assert (await core(salon.app).bookings.by_token(token)).status is Status.CANCELLED


async def test_a_staff_move_keeps_the_therapist_and_staff_change_only_the_therapist(
    salon: Salon,
) -> None:
    """Defect 2: a staff move went to Jonah unasked, with no way to change only the
    therapist."""
    token = await salon.book(10, "r_ann", 1, staff=True)
    await salon.book(14, "r_ann", 2)
    booking = await core(salon.app).bookings.by_token(token)
    page = f"/admin/bookings/{booking.id}"
    shown = await salon.staff.get(page, params={"date": salon.day.isoformat()})
    assert f'value="{at(14, day=salon.day)}"' not in shown.text  # Ann's times only
    assert "Change the therapist only" in shown.text
    refused = await post_form(
        salon.staff, page, f"{page}/reschedule", start=at(14, day=salon.day), confirmed="yes"
    )
    assert (
        "Ann is not free at that time" in (await salon.staff.get(refused.headers["location"])).text
    )
    assert (await core(salon.app).bookings.get(booking.id)).resource_id == "r_ann"
    same_time = {"start": booking.start.isoformat(), "resource": "r_bob"}
    asked = await post_form(salon.staff, page, f"{page}/reschedule", **same_time)
    assert "with Bob instead of Ann?" in asked.text
    done = await post_form(salon.staff, page, f"{page}/reschedule", **same_time, confirmed="yes")
    assert (
        "the therapist changed: it was Ann"
        in (await salon.staff.get(done.headers["location"])).text
    )
    changed = await core(salon.app).bookings.get(booking.id)
    assert (changed.start, changed.resource_id, changed.requested) == (booking.start, "r_bob", True)


async def test_the_desks_new_booking_times_follow_the_chosen_therapist(salon: Salon) -> None:
    """Defect 3: the therapist choice did not filter the times, and a time never free for that
    therapist answered "This time was just taken" with no times and no day."""
    await salon.book(14, "r_bob", 1)
    day = salon.day.isoformat()
    page = await salon.staff.get(f"/admin/bookings/new?treatment={FACIAL.id}&date={day}")
    listing = re.search(
        r'<form method="get" action="/admin/bookings/new".*?</form>', page.text, re.S
    )
    assert listing is not None  # the form that lists the times offers the therapist choice
    assert 'name="resource"' in listing[0]
    fourteen = at(14, day=salon.day)
    assert f'value="{fourteen}"' in page.text  # Ann is free then
    bob = await salon.staff.get(
        f"/admin/bookings/new?treatment={FACIAL.id}&date={day}&resource=r_bob"
    )
    assert f'value="{fourteen}"' not in bob.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', bob.text)
    assert key is not None
    refused = await salon.staff.post(
        "/admin/bookings/new",
        data={
            "csrf_token": form_token(bob.text),
            "idempotency_key": key[1],
            "treatment": FACIAL.id,
            "resource": "r_bob",
            "start": fourteen,
            **client(2),
        },
    )
    assert refused.status_code == 409
    assert "Bob is not free at that time" in refused.text
    assert f'value="{at(15, 30, day=salon.day)}"' in refused.text  # Bob's other times, that day


async def test_todays_list_offers_done_and_no_show_only_once_started(salon: Salon) -> None:
    """Defect 10: Done and No-show were offered on visits that had not started."""
    today = datetime.now(LONDON).date()
    if datetime.now(LONDON).time() >= time(23, 50):
        pytest.skip("the not-yet-started visit must still be today")
    catalogue = core(salon.app).catalogue
    ids: list[str] = []
    moment = [datetime.now(LONDON)]  # the booker's clock: a day before each booking
    booker = BookingService(
        parts(salon.app).storage.kv("bookings"), catalogue, clock=lambda: moment[0]
    )
    for wall in (time(0, 0), time(23, 55)):
        start = to_utc(today, wall, LONDON)
        moment[0] = start - timedelta(days=1)
        fields = {"treatment": FACIAL.id, "start": start.isoformat(), "resource": "r_ann"}
        request = replace(ask({**fields, **client(len(ids))}, staff=True), squeeze=True)
        ids.append((await booker.book(request)).booking.id)
    html = (await salon.staff.get("/admin")).text
    rows = {i: html.split(f'data-booking="{i}"')[1].split("</tr>")[0] for i in ids}
    started, later = rows[ids[0]], rows[ids[1]]
    assert ">Done</button>" in started
    assert ">No-show</button>" in started
    assert ">Done</button>" not in later
    assert ">No-show</button>" not in later
    assert ">Cancel</button>" in later


async def test_staff_squeeze_in_outside_hours_asked_first_and_audited_and_a_walk_in(
    salon: Salon,
) -> None:
    """Staff overrides: a squeeze-in outside opening hours is confirmed and recorded; a walk-in
    starts now; neither can take a time another booking holds."""
    day = salon.day.isoformat()
    page = await salon.staff.get(
        f"/admin/bookings/new?treatment={FACIAL.id}&date={day}&resource=r_ann"
    )
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert key is not None
    base = {
        "csrf_token": form_token(page.text),
        "treatment": FACIAL.id,
        "resource": "r_ann",
        **client(3),
    }
    late = {**base, "idempotency_key": key[1], "when": f"{day}T18:30", "squeeze": "yes"}
    asked = await salon.staff.post("/admin/bookings/new", data=late)
    assert asked.status_code == 200
    assert "outside the listed times?" in asked.text
    done = await salon.staff.post("/admin/bookings/new", data={**late, "confirmed": "yes"})
    assert done.status_code == 303
    booking = await core(salon.app).bookings.get(done.headers["location"].rsplit("/", 1)[1])
    assert booking.start == to_utc(salon.day, time(18, 30), LONDON)
    actions = [e.action async for e in core(salon.app).audit.entries()]
    assert "booking.squeeze" in actions
    over = {**late, "idempotency_key": "another", "when": f"{day}T18:45", "confirmed": "yes"}
    refused = await salon.staff.post("/admin/bookings/new", data=over)
    assert refused.status_code == 409
    assert "Ann has another booking then" in refused.text
    walk_in = {**base, "idempotency_key": "walk-in", "walk_in": "yes"}
    walked = await salon.staff.post("/admin/bookings/new", data=walk_in)
    assert walked.status_code == 303
    started = await core(salon.app).bookings.get(walked.headers["location"].rsplit("/", 1)[1])
    assert abs(started.start - core(salon.app).days.now()) < timedelta(minutes=2)
    assert "booking.walk_in" in [e.action async for e in core(salon.app).audit.entries()]


async def test_staff_edit_a_bookings_client_and_treatment(salon: Salon) -> None:
    """Staff overrides: the client's details and the treatment, the latter past closing only
    when staff say so."""
    massage = {"treatment": MASSAGE.id, "start": at(16, 30, day=salon.day), **client(4)}
    booking = (await core(salon.app).bookings.book(ask(massage, staff=True))).booking
    page = f"/admin/bookings/{booking.id}"
    fields = {"name": "Corrected Name", "email": "client4@example.com", "phone": "07700 900111"}
    saved = await post_form(salon.staff, page, f"{page}/edit", **fields, treatment=MASSAGE.id)
    assert "Saved Corrected Name" in (await salon.staff.get(saved.headers["location"])).text
    assert (await core(salon.app).bookings.get(booking.id)).client_name == "Corrected Name"
    longer = await post_form(salon.staff, page, f"{page}/edit", **fields, treatment=FACIAL.id)
    said = (await salon.staff.get(longer.headers["location"])).text
    assert "outside opening hours: tick" in said  # a facial at 16:30 runs past 17:00
    assert (await core(salon.app).bookings.get(booking.id)).treatment_id == MASSAGE.id
    squeezed = await post_form(
        salon.staff, page, f"{page}/edit", **fields, treatment=FACIAL.id, squeeze="yes"
    )
    assert squeezed.status_code == 303
    changed = await core(salon.app).bookings.get(booking.id)
    assert (changed.treatment_id, changed.start) == (FACIAL.id, booking.start)
