"""The slot engine: table-driven cases, then properties on ordinary and daylight-saving days."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.schedule import Hours, Schedule, local_day_bounds, to_utc
from parlour.domain.slots import (
    Slot,
    available_slots,
    occupied_span,
    slot_at,
    unit_of,
    units_between,
)

NINE_TO_FIVE = Schedule(weekly=(((Hours(time(9), time(17))),),) * 7)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
RULES = BookingRules(timezone="Europe/London", slot_step=15, min_notice=0, horizon_days=100_000)


def treatment(
    duration: int = 60, before: int = 0, after: int = 0, resources: tuple[str, ...] = ("ann",)
) -> Treatment:
    return Treatment(
        id="t",
        name="Facial",
        duration=duration,
        price=5000,
        resource_ids=resources,
        buffer_before=before,
        buffer_after=after,
    )


def ann(schedule: Schedule = NINE_TO_FIVE) -> Resource:
    return Resource(id="ann", name="Ann", schedule=schedule)


def local_starts(slots: list[Slot], zone: str = "Europe/London") -> list[str]:
    from zoneinfo import ZoneInfo

    return [slot.start.astimezone(ZoneInfo(zone)).strftime("%H:%M") for slot in slots]


WINTER_DAY = date(2026, 12, 1)  # a Tuesday, London on GMT


def test_a_plain_day_offers_every_quarter_hour_that_fits() -> None:
    slots = available_slots(treatment(60), [ann()], WINTER_DAY, RULES, {}, LONG_AGO)
    starts = local_starts(slots)
    assert starts[0] == "09:00"
    assert starts[-1] == "16:00"  # 16:00-17:00 is the last hour that fits
    assert len(starts) == 29
    assert all(slot.resource_ids == ("ann",) for slot in slots)


@pytest.mark.parametrize(
    ("before", "after", "first", "last"),
    [
        (0, 0, "09:00", "16:00"),
        (15, 0, "09:15", "16:00"),
        (0, 30, "09:00", "15:30"),
        (10, 10, "09:15", "15:45"),
    ],
    ids=["no-buffers", "before", "after", "both"],
)
def test_buffers_must_fit_in_the_working_day(
    before: int, after: int, first: str, last: str
) -> None:
    slots = available_slots(treatment(60, before, after), [ann()], WINTER_DAY, RULES, {}, LONG_AGO)
    assert (local_starts(slots)[0], local_starts(slots)[-1]) == (first, last)


def test_an_existing_booking_and_its_buffers_block_overlapping_starts() -> None:
    booked = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 12:00-13:00 GMT, 15 min after-buffer
    span = occupied_span(treatment(60, 0, 15), booked)
    occupied = {"ann": set(units_between(*span))}
    starts = local_starts(
        available_slots(treatment(60, 5, 0), [ann()], WINTER_DAY, RULES, occupied, LONG_AGO)
    )
    assert "10:55" not in starts  # not on the 15-minute grid anyway
    assert "11:00" in starts  # 10:55-12:00 ends as the booking begins
    assert "11:15" not in starts
    assert "12:30" not in starts
    assert "13:15" not in starts  # its prep (13:10) would overlap the booking's clearing up
    assert "13:30" in starts


def test_a_resource_that_cannot_perform_it_is_never_offered() -> None:
    bob = Resource(id="bob", name="Bob", schedule=NINE_TO_FIVE)
    slots = available_slots(
        treatment(resources=("ann",)), [ann(), bob], WINTER_DAY, RULES, {}, LONG_AGO
    )
    assert {slot.resource_ids for slot in slots} == {("ann",)}


def test_either_of_two_therapists_keeps_a_time_open() -> None:
    bob = Resource(id="bob", name="Bob", schedule=NINE_TO_FIVE)
    start = datetime(2026, 12, 1, 10, tzinfo=UTC)
    occupied = {"ann": set(units_between(start, start + timedelta(hours=1)))}
    slots = available_slots(
        treatment(resources=("ann", "bob")), [ann(), bob], WINTER_DAY, RULES, occupied, LONG_AGO
    )
    by_start = {slot.start: slot.resource_ids for slot in slots}
    assert by_start[start] == ("bob",)
    assert by_start[start + timedelta(hours=2)] == ("ann", "bob")


def test_closed_days_exceptions_and_inactive() -> None:
    closed = Schedule(weekly=NINE_TO_FIVE.weekly, closed=frozenset({WINTER_DAY}))
    assert available_slots(treatment(), [ann(closed)], WINTER_DAY, RULES, {}, LONG_AGO) == []
    short = Schedule(
        weekly=NINE_TO_FIVE.weekly, exceptions=((WINTER_DAY, (Hours(time(10), time(12)),)),)
    )
    assert local_starts(
        available_slots(treatment(), [ann(short)], WINTER_DAY, RULES, {}, LONG_AGO)
    ) == [
        "10:00",
        "10:15",
        "10:30",
        "10:45",
        "11:00",
    ]
    retired = Treatment(
        id="t", name="Old", duration=60, price=0, resource_ids=("ann",), active=False
    )
    assert available_slots(retired, [ann()], WINTER_DAY, RULES, {}, LONG_AGO) == []


def test_notice_and_horizon() -> None:
    rules = BookingRules(timezone="Europe/London", min_notice=120, horizon_days=1)
    now = datetime(2026, 12, 1, 9, 50, tzinfo=UTC)
    starts = local_starts(available_slots(treatment(), [ann()], WINTER_DAY, rules, {}, now))
    assert starts[0] == "12:00"  # 11:50 is the earliest, and starts are on the quarter hour
    next_day = available_slots(treatment(), [ann()], date(2026, 12, 2), rules, {}, now)
    assert local_starts(next_day)[-1] == "09:45"  # the horizon ends at 09:50 the next day


@pytest.mark.parametrize(
    ("zone", "day", "wall", "utc"),
    [
        ("Europe/London", date(2026, 3, 29), time(1, 30), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        (
            "Europe/London",
            date(2026, 10, 25),
            time(1, 30),
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        ),
        (
            "America/New_York",
            date(2026, 3, 8),
            time(2, 30),
            datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
        ),
        (
            "America/New_York",
            date(2026, 11, 1),
            time(1, 30),
            datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        ),
    ],
    ids=["london-gap", "london-repeat", "new-york-gap", "new-york-repeat"],
)
def test_wall_times_on_clock_change_days(zone: str, day: date, wall: time, utc: datetime) -> None:
    from zoneinfo import ZoneInfo

    assert to_utc(day, wall, ZoneInfo(zone)) == utc


@pytest.mark.parametrize(
    ("zone", "day", "hours_long", "starts"),
    [
        ("Europe/London", date(2026, 3, 29), 23, 5 * 4 - 3),
        ("Europe/London", date(2026, 10, 25), 25, 7 * 4 - 3),
        ("America/New_York", date(2026, 3, 8), 23, 5 * 4 - 3),
        ("America/New_York", date(2026, 11, 1), 25, 7 * 4 - 3),
    ],
    ids=["london-spring", "london-autumn", "new-york-spring", "new-york-autumn"],
)
def test_night_hours_across_a_clock_change_count_real_time(
    zone: str, day: date, hours_long: int, starts: int
) -> None:
    """Open 00:00-06:00 on the night the clocks change: five or seven real hours of work."""
    from zoneinfo import ZoneInfo

    night = Schedule(weekly=((Hours(time(0), time(6)),),) * 7)
    rules = BookingRules(timezone=zone, slot_step=15, min_notice=0, horizon_days=100_000)
    slots = available_slots(treatment(60), [ann(night)], day, rules, {}, LONG_AGO)
    day_start, day_end = local_day_bounds(day, ZoneInfo(zone))
    assert day_end - day_start == timedelta(hours=hours_long)
    assert len(slots) == starts
    assert len({slot.start for slot in slots}) == len(slots)  # the repeated hour: no duplicates
    gaps = {b.start - a.start for a, b in itertools.pairwise(slots)}
    assert gaps == {timedelta(minutes=15)}  # real time, evenly, across the change


# -- properties --------------------------------------------------------------------------------

zones = st.sampled_from(["Europe/London", "America/New_York", "UTC", "Australia/Sydney"])
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31))
clock_change_days = st.sampled_from(
    [
        date(2026, 3, 29),
        date(2026, 10, 25),
        date(2026, 3, 8),
        date(2026, 11, 1),
        date(2027, 3, 28),
        date(2027, 10, 31),
        date(2027, 3, 14),
        date(2027, 11, 7),
    ]
)
quarter_hours = st.integers(min_value=0, max_value=95).map(lambda q: time(q // 4, q % 4 * 15))
durations = st.integers(min_value=1, max_value=36).map(lambda units: units * 5)
buffers = st.integers(min_value=0, max_value=6).map(lambda units: units * 5)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    weekly = []
    for _ in range(7):
        a, b = sorted(draw(st.lists(quarter_hours, min_size=2, max_size=2, unique=True)))
        weekly.append((Hours(a, b),) if draw(st.integers(0, 4)) else ())  # some days closed
    return Schedule(weekly=tuple(weekly))


@st.composite
def bookings(draw: st.DrawFn, day: date) -> set[int]:
    start = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(hours=14)
    spans = draw(st.lists(st.tuples(st.integers(0, 38 * 12), st.integers(1, 36)), max_size=6))
    units: set[int] = set()
    for offset, length in spans:
        first = start + timedelta(minutes=5 * offset)
        units.update(units_between(first, first + timedelta(minutes=5 * length)))
    return units


@settings(max_examples=200, deadline=None)
@given(
    st.data(), zones, st.one_of(days, clock_change_days), durations, buffers, buffers, schedules()
)
def test_every_offered_slot_is_bookable(
    data: st.DataObject,
    zone: str,
    day: date,
    duration: int,
    before: int,
    after: int,
    schedule: Schedule,
) -> None:
    from zoneinfo import ZoneInfo

    rules = BookingRules(timezone=zone, slot_step=15, min_notice=0, horizon_days=100_000)
    occupied = {"ann": data.draw(bookings(day))}
    offer = treatment(duration, before, after)
    slots = available_slots(offer, [ann(schedule)], day, rules, occupied, LONG_AGO)
    day_start, day_end = local_day_bounds(day, ZoneInfo(zone))
    working = schedule.intervals(day, ZoneInfo(zone))
    starts = [slot.start for slot in slots]
    assert starts == sorted(set(starts))
    for slot in slots:
        assert day_start <= slot.start < day_end
        assert slot.start.astimezone(ZoneInfo(zone)).minute % 15 == 0
        span_start, span_end = occupied_span(offer, slot.start)
        assert span_end - span_start == timedelta(minutes=before + duration + after)
        assert any(a <= span_start and span_end <= b for a, b in working)
        assert occupied["ann"].isdisjoint(units_between(span_start, span_end))


@settings(max_examples=150, deadline=None)
@given(zones, st.one_of(days, clock_change_days), durations, buffers, buffers)
def test_booking_an_offered_slot_removes_exactly_the_overlapping_ones(
    zone: str, day: date, duration: int, before: int, after: int
) -> None:
    rules = BookingRules(timezone=zone, slot_step=15, min_notice=0, horizon_days=100_000)
    always = Schedule(weekly=((Hours(time(0), time(23, 45)),),) * 7)
    offer = treatment(duration, before, after)
    slots = available_slots(offer, [ann(always)], day, rules, {}, LONG_AGO)
    assume(slots)
    chosen = slots[len(slots) // 2]
    taken = set(units_between(*occupied_span(offer, chosen.start)))
    after_booking = available_slots(offer, [ann(always)], day, rules, {"ann": taken}, LONG_AGO)
    remaining = {slot.start for slot in after_booking}
    for slot in slots:
        overlaps = not taken.isdisjoint(units_between(*occupied_span(offer, slot.start)))
        assert (slot.start in remaining) == (not overlaps)


@settings(max_examples=100, deadline=None)
@given(zones, st.one_of(days, clock_change_days))
def test_unit_arithmetic_is_exact(zone: str, day: date) -> None:
    from zoneinfo import ZoneInfo

    start, end = local_day_bounds(day, ZoneInfo(zone))
    units = units_between(start, end)
    assert len(units) * 5 == (end - start).total_seconds() / 60
    assert unit_of(start) == units[0]


@settings(max_examples=150, deadline=None)
@given(
    st.data(),
    zones,
    st.one_of(days, clock_change_days),
    durations,
    buffers,
    schedules(),
    st.integers(0, 600),
    st.integers(-3 * 24 * 12, 4 * 24 * 12),
)
def test_the_slot_at_one_start_is_the_listed_slot_at_that_start(
    data: st.DataObject,
    zone: str,
    day: date,
    duration: int,
    before: int,
    schedule: Schedule,
    notice: int,
    offset: int,
) -> None:
    """What a booking checks (one start) and what a listing offers (the whole day) agree at
    every start, on and off the grid, inside and outside the day, notice and horizon."""
    rules = BookingRules(timezone=zone, slot_step=15, min_notice=notice, horizon_days=30)
    occupied = {"ann": data.draw(bookings(day))}
    offer = treatment(duration, before, 0)
    now = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(minutes=data.draw(
        st.integers(-2 * 24 * 60, 24 * 60)))  # fmt: skip
    listed = {
        s.start: s for s in available_slots(offer, [ann(schedule)], day, rules, occupied, now)
    }
    start = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(minutes=5 * offset)
    for at in (start, *listed):
        found = slot_at(offer, [ann(schedule)], day, rules, occupied, now, at)
        assert found == listed.get(at)


@given(
    start=st.datetimes(
        min_value=datetime(1900, 1, 2),
        max_value=datetime(2999, 12, 30),
        timezones=st.just(UTC),
    ),
    duration=st.integers(min_value=1, max_value=600),
    before=st.integers(min_value=0, max_value=120),
    after=st.integers(min_value=0, max_value=120),
)
def test_a_bookings_units_are_those_its_time_and_buffers_touch(
    start: datetime, duration: int, before: int, after: int
) -> None:
    # Booking.units takes a shortcut in whole seconds for a start on the second; it must give
    # the units of the general rule, before 1970 (negative instants) and on every grid too.
    for begins in (start, start.replace(microsecond=0), start.replace(second=0, microsecond=0)):
        booking = Booking(
            id="b_1",
            treatment_id="t_1",
            treatment_name="T",
            resource_id="ann",
            start=begins,
            duration=duration,
            buffer_before=before,
            buffer_after=after,
            price=0,
            client_name="C",
            email="c@example.com",
            phone="07700 900123",
            status=Status.CONFIRMED,
            created_at=begins,
            token_hash="",
        )
        span = (begins - timedelta(minutes=before), booking.end + timedelta(minutes=after))
        assert booking.units == units_between(*span)
