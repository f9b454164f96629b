"""Calendar files: no injection through names, RFC 5545 escaping, and SEQUENCE / DTSTAMP that
tell a calendar when a booking was moved or cancelled (issue 11.8). Checked with ``icalendar``,
an independent parser."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import icalendar
import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from parlour.config import load_settings
from parlour.domain.booking import Booking, Status
from parlour.errors import Conflict, InvalidInput
from parlour.services.bookings.engine import BookingService
from parlour.services.calendar_file import calendar_file
from parlour.services.catalogue import Business, CatalogueService
from parlour.storage import Storage
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import MASSAGE, NOW, ask, at, client, furnish, upcoming_weekday
from support.web import running

HOSTILE = "Calm\r\nX-INJ:1\rBEGIN:VALARM;x,y\\z\x07\x0b end"
LINK = "https://book.example.com/booking/tok"


def parse(text: str) -> icalendar.Event:
    """The one event of a well-formed file (every line CRLF-ended, at most 75 octets)."""
    assert text.endswith("\r\n")
    for line in text[:-2].split("\r\n"):
        assert "\r" not in line, repr(line)
        assert "\n" not in line, repr(line)
        assert len(line.encode()) <= 75, line
        assert not line.startswith("X-INJ"), line
    calendar = icalendar.Calendar.from_ical(text)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    assert not list(calendar.walk("VALARM"))
    assert isinstance(events[0], icalendar.Event)
    return events[0]


def test_text_is_escaped_and_control_characters_never_reach_the_file() -> None:
    booking = Booking(
        id="b1", treatment_id="t", treatment_name=HOSTILE, resource_id="r", start=NOW,
        duration=30, buffer_before=0, buffer_after=0, price=0, client_name="x", email="x@x.x",
        phone="0", status=Status.CONFIRMED, created_at=NOW, token_hash="h",
    )  # fmt: skip
    business = Business(name="Salon; Spa, Ltd", address=HOSTILE)
    text = calendar_file(booking, business, LINK)
    event = parse(text)
    # CR, LF and CRLF are line breaks, escaped as \n; other controls are dropped.
    expected = HOSTILE_SHOWN
    assert str(event["SUMMARY"]) == f"{expected} at Salon; Spa, Ltd"
    assert str(event["LOCATION"]) == expected
    assert "X-INJ" not in event
    assert str(event["URL"]) == LINK


class CalendarOfOneBooking(RuleBasedStateMachine):
    """Staff move and re-status one booking while the clock runs; after each step its file
    names the current time and status, and SEQUENCE and DTSTAMP say whether it changed."""

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.now = NOW
        self.folder = tempfile.TemporaryDirectory()
        settings = load_settings(env_file=None, data_backend="memory", data_dir=self.folder.name)
        self.storage = Storage.from_settings(settings)
        self.runner.run(self.storage.__aenter__())
        self.catalogue: CatalogueService = self.runner.run(furnish(self.storage.kv))
        self.runner.run(
            self.catalogue.put_business(Business(name=HOSTILE, address="1 High St, Town"))
        )
        self.service = BookingService(
            self.storage.kv("bookings"), self.catalogue, clock=lambda: self.now
        )
        booked = self.runner.run(
            self.service.book(
                ask({"treatment": MASSAGE.id, "start": at(10), **client()}, staff=True)
            )
        )
        self.id = booked.booking.id
        # The reference model: what the file must say.
        self.sequence, self.stamp = 0, NOW
        self.start, self.status = booked.booking.start, Status.CONFIRMED

    def teardown(self) -> None:
        self.runner.run(self.storage.__aexit__(None, None, None))
        self.runner.close()
        self.folder.cleanup()

    def booking(self) -> Booking:
        return self.runner.run(self.service.get(self.id))

    @rule(seconds=st.integers(1, 7200))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @precondition(lambda self: self.status is Status.CONFIRMED)
    @rule(hour=st.integers(9, 16), half=st.booleans())
    def staff_move_it(self, hour: int, half: bool) -> None:
        start = at(hour, 30 if half else 0)
        moved = self.runner.run(
            self.service.reschedule(self.booking(), datetime.fromisoformat(start), by_client=False)
        ).booking
        if moved.start == self.start:  # a move to where it is changes nothing (issue 24)
            return
        self.sequence, self.stamp, self.start = self.sequence + 1, self.now, moved.start

    @precondition(lambda self: self.status is not Status.CONFIRMED)
    @rule()
    def moving_a_booking_that_is_not_confirmed_changes_nothing(self) -> None:
        with pytest.raises(Conflict):
            self.runner.run(
                self.service.reschedule(
                    self.booking(), datetime.fromisoformat(at(12)), by_client=False
                )
            )

    @rule(status=st.sampled_from(Status))
    def staff_set_its_status(self, status: Status) -> None:
        if status is not self.status and self.booking().refuses(status, self.now):
            with pytest.raises(Conflict):  # done or a no-show before the visit has started
                self.runner.run(self.service.set_status(self.booking(), status))
            return
        self.runner.run(self.service.set_status(self.booking(), status))
        if status is not self.status:
            self.sequence, self.stamp, self.status = self.sequence + 1, self.now, status

    @invariant()
    def the_file_says_what_happened(self) -> None:
        booking = self.booking()
        business = self.runner.run(self.catalogue.business())
        event = parse(calendar_file(booking, business, LINK))
        assert str(event["UID"]) == f"{self.id}@parlour"
        assert event.decoded("SEQUENCE") == self.sequence
        stamp = self.stamp.replace(microsecond=0)
        assert event.decoded("DTSTAMP") == stamp
        assert event.decoded("LAST-MODIFIED") == stamp
        assert event.decoded("CREATED") == NOW.replace(microsecond=0)
        assert event.decoded("DTSTART") == self.start
        assert event.decoded("DTEND") == self.start + timedelta(minutes=MASSAGE.duration)
        cancelled = self.status is Status.CANCELLED
        assert str(event["STATUS"]) == ("CANCELLED" if cancelled else "CONFIRMED")
        assert str(event["SUMMARY"]) == f"{MASSAGE.name} at {HOSTILE_SHOWN}"


HOSTILE_SHOWN = "Calm\nX-INJ:1\nBEGIN:VALARM;x,y\\z end"
CalendarOfOneBooking.TestCase.settings = hypothesis_settings(
    max_examples=25, stateful_step_count=12, deadline=None
)
TestCalendarOfOneBooking = CalendarOfOneBooking.TestCase


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app) as http:
        await furnish(parts(app).storage.kv)
        http.app = app  # type: ignore[attr-defined]
        yield http


async def test_a_moved_then_cancelled_booking_gives_newer_files(site: httpx.AsyncClient) -> None:
    day = upcoming_weekday()
    made = await site.post(
        "/api/bookings", json={"treatment": MASSAGE.id, "start": at(10, day=day), **client()}
    )
    token = made.json()["manage_token"]
    files = [await site.get(f"/booking/{token}/calendar.ics")]
    moved = await site.post(f"/api/bookings/{token}/reschedule", json={"start": at(11, day=day)})
    assert moved.status_code == 200, moved.text
    files.append(await site.get(f"/booking/{token}/calendar.ics"))
    assert (await site.post(f"/api/bookings/{token}/cancel")).status_code == 200
    files.append(await site.get(f"/booking/{token}/calendar.ics"))
    events = [parse(f.text) for f in files]
    assert [e.decoded("SEQUENCE") for e in events] == [0, 1, 2]
    assert [str(e["STATUS"]) for e in events] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
    stamps = [e.decoded("DTSTAMP") for e in events]
    assert stamps == sorted(stamps)
    assert len({str(e["UID"]) for e in events}) == 1
    assert events[1].decoded("DTSTART") == datetime.fromisoformat(at(11, day=day)).astimezone(UTC)


SINGLE_LINE = [
    ("business", "name"),
    ("business", "address"),
    ("business", "phone"),
    ("treatment", "name"),
    ("treatment", "category"),
    ("resource", "name"),
]


@pytest.mark.parametrize("breaker", ["\r", "\n", "\x0b", "\x00", "\x1b"], ids=repr)
@pytest.mark.parametrize(("form", "field"), SINGLE_LINE, ids=str)
async def test_single_line_fields_refuse_control_characters(
    site: httpx.AsyncClient, form: str, field: str, breaker: str
) -> None:
    catalogue = core(site.app).catalogue  # type: ignore[attr-defined]
    fields = {
        "business": {"name": "Salon", "timezone": "Europe/London", "slot_step": "15",
                     "min_notice": "60", "horizon_days": "60", "cancel_cutoff_hours": "24"},
        "treatment": {"name": "Facial", "duration": "30", "price": "40", "active": "on"},
        "resource": {"name": "Ann", "kind": "therapist", "active": "on"},
    }[form]  # fmt: skip
    fields = {**fields, field: f"Fine{breaker}X-INJ:1"}
    saves: dict[str, Callable[[], Awaitable[object]]] = {
        "business": lambda: catalogue.save_business(fields),
        "treatment": lambda: catalogue.save_treatment(fields, ["r_ann"]),
        "resource": lambda: catalogue.save_resource(fields),
    }
    with pytest.raises(InvalidInput) as refused:
        await saves[form]()
    assert field in refused.value.fields
    assert "hidden characters" in refused.value.fields[field]


async def test_a_treatment_description_may_have_line_breaks(site: httpx.AsyncClient) -> None:
    catalogue = core(site.app).catalogue  # type: ignore[attr-defined]
    fields = {"name": "Facial", "duration": "30", "price": "40", "description": "One.\r\nTwo."}
    saved = await catalogue.save_treatment(fields, ["r_ann"])
    assert saved.description == "One.\r\nTwo."


@pytest.mark.parametrize("breaker", ["\r", "\n", "\x1b"], ids=repr)
async def test_a_client_name_with_a_control_character_is_refused(
    site: httpx.AsyncClient, breaker: str
) -> None:
    body = {"treatment": MASSAGE.id, "start": at(10, day=upcoming_weekday())}
    made = await site.post("/api/bookings", json={**body, **client(name=f"Eve{breaker}X-INJ:1")})
    assert made.status_code == 422
    assert "name" in made.json()["fields"]


def test_records_from_before_sequence_read_as_revision_zero() -> None:
    booking = Booking(
        id="b1", treatment_id="t", treatment_name="T", resource_id="r", start=NOW, duration=30,
        buffer_before=0, buffer_after=0, price=0, client_name="x", email="x@x.x", phone="0",
        status=Status.CONFIRMED, created_at=NOW, token_hash="h",
    )  # fmt: skip
    from parlour.services.bookings.records import booking_from_json, booking_to_json

    old = {k: v for k, v in booking_to_json(booking).items() if k not in ("sequence", "updated_at")}
    assert booking_from_json(old) == booking
    later = booking.revised(NOW + timedelta(hours=1), status=Status.CANCELLED)
    assert booking_from_json(booking_to_json(later)) == later
    assert replace(later, updated_at=None).last_modified == NOW
    assert re.search(r"SEQUENCE:1\r\n", calendar_file(later, Business(), LINK))
