"""What the booking engine reads of a local day: its bookings, the units they keep busy, and the
free start times a treatment has then.

A day's lists and records (``d:`` and ``b:``, written in the same step as the unit claims) say
the same as the claims in far fewer keys (a busy day: 30 lists and a record per booking, not
4,320 units), so availability reads them, from this process's day cache when it has one
(services.bookings.day_cache). The claims stay the judge: a booking commits only if every unit it
needs is free (services.bookings.claims).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from parlour.domain.booking import Booking
from parlour.domain.catalogue import Resource, Treatment
from parlour.domain.schedule import local_day_bounds
from parlour.domain.slots import Slot, available_slots, booking_window
from parlour.services.bookings.day_cache import DayCache, DayList
from parlour.services.bookings.day_index import ids_of
from parlour.services.bookings.keys import booking_id_of, booking_key, day_key
from parlour.services.bookings.records import booking_from_json
from parlour.services.bookings.rules import rules_for
from parlour.services.catalogue import Business
from parlour.storage.base import KVStore


class DayReader:
    def __init__(
        self, store: KVStore, clock: Callable[[], datetime], days: DayCache | None
    ) -> None:
        self._store = store
        self._clock = clock
        self._days = days
        """This process's copy of day lists; ``None``: none, every read goes to the store."""

    async def slots(
        self,
        business: Business,
        treatment: Treatment,
        resources: Sequence[Resource],
        day: date,
        ignoring: Booking | None,
        staff: bool,
    ) -> list[Slot]:
        """Free start times of ``treatment`` on ``day``; ``ignoring`` a booking frees its own
        time (rescheduling it)."""
        rules = rules_for(business, staff)
        today = self._clock().astimezone(rules.zone).date()
        if not today - timedelta(days=1) <= day <= today + timedelta(days=rules.horizon_days + 1):
            return []  # nothing to offer, and nothing to read (year 9999 has no day after it)
        capable = [r.id for r in resources if r.id in treatment.resource_ids]
        if self._days is not None and ignoring is None:
            return await self._kept_slots(business, treatment, resources, day, staff, capable)
        occupied = await self.occupied(day, capable, ignoring)
        return available_slots(treatment, resources, day, rules, occupied, self._clock())

    async def occupied(
        self, day: date, capable: Sequence[str], ignoring: Booking | None, *, fresh: bool = False
    ) -> dict[str, set[int]]:
        """The units each resource's bookings of ``day`` (and of the days either side: buffers
        that cross midnight) keep busy, without ``ignoring``'s own; if ``fresh``, read from the
        store, never from this process's copy."""
        if self._days is not None and ignoring is None and not fresh:
            kept = await self._days.days(lists_near(day, capable), self.day_lists)
            return _busy(kept.values(), capable)
        near = (
            await self.bookings_of(lists_near(day, capable))
            if fresh
            else await self._bookings_near(day, capable)
        )
        occupied: dict[str, set[int]] = {resource: set() for resource in capable}
        for booking in near:
            if booking.holds_time and (ignoring is None or booking.id != ignoring.id):
                occupied[booking.resource_id].update(booking.units)
        return occupied

    async def _bookings_near(self, day: date, resource_ids: Sequence[str]) -> list[Booking]:
        lists = lists_near(day, resource_ids)
        if self._days is None:
            return await self.bookings_of(lists)
        kept = await self._days.days(lists, self.day_lists)
        return list({b.id: b for entry in kept.values() for b in entry.bookings}.values())

    async def _kept_slots(
        self,
        business: Business,
        treatment: Treatment,
        resources: Sequence[Resource],
        day: date,
        staff: bool,
        capable: Sequence[str],
    ) -> list[Slot]:
        """:meth:`slots` from the day cache: the day's slots are worked out once for the
        catalogue and day lists they come from (ignoring notice and horizon), and each request
        keeps those its own clock allows."""
        assert self._days is not None
        rules = rules_for(business, staff)
        kept = await self._days.days(lists_near(day, capable), self.day_lists)

        def compute() -> list[Slot]:
            occupied = _busy(kept.values(), capable)
            # With no notice and a ten-year horizon from two days before, every start of the
            # day passes the window; the real window is applied below, per request.
            before = local_day_bounds(day, rules.zone)[0] - timedelta(days=2)
            wide = replace(rules, min_notice=0, horizon_days=3650)
            return available_slots(treatment, resources, day, wide, occupied, before)

        inputs = (business, treatment, resources, *kept.values())
        every = self._days.memo((treatment.id, day, staff), inputs, compute)
        earliest, latest = booking_window(rules, self._clock())
        return [slot for slot in every if earliest <= slot.start <= latest]

    async def day_lists(self, lists: Sequence[str]) -> dict[str, DayList]:
        """The day lists ``lists`` read from the store, decoding only the records the day cache
        does not hold: the cache's loader."""
        assert self._days is not None
        index = await self._store.get_many(lists)
        ids = dict.fromkeys(i for day in index.values() for i in ids_of(day))
        known = self._days.records(ids)
        read = await self._store.get_many([booking_key(i) for i in ids if i not in known])
        bookings = {
            **known,
            **{booking_id_of(key): booking_from_json(value) for key, value in read.items()},
        }
        return {
            key: DayList.of(bookings[i] for i in ids_of(day) if i in bookings)
            for key, day in index.items()
        }

    async def bookings_of(self, lists: Sequence[str]) -> list[Booking]:
        """Every booking the day lists ``lists`` hold, from the store, by start."""
        index = await self._store.get_many(lists)
        ids = dict.fromkeys(booking_id for day in index.values() for booking_id in ids_of(day))
        records = await self._store.get_many([booking_key(i) for i in ids])
        return sorted((booking_from_json(r) for r in records.values()), key=lambda b: b.start)


def lists_near(day: date, resource_ids: Sequence[str]) -> list[str]:
    """The day lists of ``day`` and the days either side, of each resource."""
    days = (day - timedelta(days=1), day, day + timedelta(days=1))
    return [day_key(d, r) for d in days for r in resource_ids]


def _busy(kept: Iterable[DayList], capable: Sequence[str]) -> dict[str, set[int]]:
    """The units the kept day lists ``kept`` hold busy, by resource of ``capable``."""
    occupied: dict[str, set[int]] = {resource: set() for resource in capable}
    for entry in kept:
        for resource, units in entry.busy.items():
            if resource in occupied:
                occupied[resource] |= units
    return occupied
