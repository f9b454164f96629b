"""Days at a glance: which days have free times, why a day has none, and the next free day."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from parlour.services.bookings.calendar_days import CalendarDays, Why
from parlour.services.bookings.engine import BookingService
from parlour.services.catalogue import CatalogueService
from parlour.storage import KVStore
from parlour.storage.memory import MemoryBackend

from support.salon import DAY, FACIAL, MASSAGE, NOW, ask, at, client, furnish

FRIDAY, SATURDAY, MONDAY = date(2026, 12, 4), date(2026, 12, 5), date(2026, 12, 7)


@pytest.fixture
async def salon() -> tuple[CatalogueService, BookingService, CalendarDays]:
    backend = MemoryBackend()
    await backend.open()

    def kv(namespace: str) -> KVStore:
        return KVStore(backend, namespace)

    def clock() -> datetime:
        return NOW

    catalogue = await furnish(kv)
    bookings = BookingService(kv("bookings"), catalogue, clock=clock)
    return catalogue, bookings, CalendarDays(bookings, catalogue, clock=clock)


async def fill(bookings: BookingService, day: date) -> None:
    """Every massage time of ``day`` (9:00 to 17:00, Ann only) booked."""
    for n in range(16):
        start = at(9 + n // 2, 30 * (n % 2), day=day)
        await bookings.book(ask({"treatment": MASSAGE.id, "start": start, **client(n)}, staff=True))


async def test_a_month_marks_the_days_with_times_as_the_slot_engine_does(
    salon: tuple[CatalogueService, BookingService, CalendarDays],
) -> None:
    _, bookings, days = salon
    await fill(bookings, DAY)
    month = await days.month(MASSAGE.id, DAY)
    assert [d.day for d in month] == [date(2026, 12, n) for n in range(1, 32)]
    for found in month:
        _, slots = await bookings.availability(MASSAGE.id, found.day)
        assert found.free == bool(slots), found
        assert found.slots == tuple(slots)
    assert month[DAY.day - 1].why is Why.FULL
    assert month[SATURDAY.day - 1].why is Why.CLOSED


@pytest.mark.parametrize(
    ("day", "why", "reason"),
    [
        (date(2026, 11, 30), Why.PAST, "That day has passed."),
        (SATURDAY, Why.CLOSED, "We are closed on Saturdays."),
        (date(2027, 3, 1), Why.BEYOND, "Bookings open 60 days ahead, up to Saturday 30 January."),
    ],
    ids=["past", "closed weekday", "beyond the window"],
)
async def test_a_day_without_times_says_why(
    salon: tuple[CatalogueService, BookingService, CalendarDays], day: date, why: Why, reason: str
) -> None:
    found = await salon[2].day(FACIAL.id, day)
    assert (found.free, found.why, found.reason) == (False, why, reason)


async def test_a_therapists_day_off_is_theirs_and_anyone_else_still_has_times(
    salon: tuple[CatalogueService, BookingService, CalendarDays],
) -> None:
    catalogue, _, days = salon
    ann = next(r for r in await catalogue.resources() if r.id == "r_ann")
    days_off = replace(ann.schedule, closed=frozenset({DAY}))
    await catalogue.put_resource(replace(ann, schedule=days_off))
    off = await days.day(FACIAL.id, DAY, "r_ann")
    assert (off.why, off.reason) == (Why.OFF, "Ann is off on Wednesday 2 December.")
    anyone = await days.day(FACIAL.id, DAY)
    assert anyone.free
    assert all(s.resource_ids == ("r_bob",) for s in anyone.slots)
    assert await days.next_free(FACIAL.id, DAY - timedelta(days=1), "r_ann") == DAY + timedelta(1)


async def test_the_next_free_day_skips_full_and_closed_days(
    salon: tuple[CatalogueService, BookingService, CalendarDays],
) -> None:
    _, bookings, days = salon
    await fill(bookings, FRIDAY)
    await fill(bookings, MONDAY)
    full = await days.day(MASSAGE.id, FRIDAY)
    assert (full.why, full.reason) == (Why.FULL, "Every time that day is booked.")
    assert await days.next_free(MASSAGE.id, FRIDAY) == MONDAY + timedelta(days=1)
    assert await days.next_free(MASSAGE.id, date(2026, 11, 1)) == NOW.date()  # from today on
    assert await days.next_free(MASSAGE.id, date(2027, 1, 29)) is None  # then the window ends
