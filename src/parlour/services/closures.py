"""Time taken out of booking over bookings already made.

A day off, a range of leave, a blocked hour or a salon closure changes what the schedules say;
the bookings already made in that time do not move by themselves. :class:`TimeOffPlanner` finds
the bookings a change would strand (they fit the schedules now, and would not fit after), the
free times each could move to under the new schedules, and carries out the staff's choice for
each: move it, cancel it (the client hears of either through the outbox, as with any staff
change), or keep it as booked. Nothing is stranded without a person having said so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import Resource
from parlour.domain.slots import Slot, available_slots
from parlour.errors import Conflict, InvalidInput, NotFound, SlotTaken
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.rules import rules_for
from parlour.services.catalogue import Business, CatalogueService

MOVE_DAYS = 14
"""How many days from a stranded booking's own day its alternative times are sought."""
READ_BATCH = 32
"""Days whose bookings are read at once (deactivating a therapist reads ten years of days)."""
MOVE_CHOICES = 24
"""At most this many alternative times are offered for one booking."""


class Action(StrEnum):
    MOVE = "move"
    CANCEL = "cancel"
    KEEP = "keep"


@dataclass(frozen=True, slots=True)
class Choice:
    action: Action
    start: datetime | None = None
    """UTC; for a move."""


@dataclass(frozen=True, slots=True)
class Stranded:
    booking: Booking
    moves: tuple[Slot, ...]
    """Free times (under the new schedules) it could move to, its own day first."""


@dataclass(frozen=True, slots=True)
class Outcome:
    cancelled: int = 0
    moved: int = 0
    kept: int = 0
    failed: tuple[tuple[Booking, str], ...] = ()
    """Changes refused, with the reason: a cancel (the booking changed meanwhile) or a move
    after the change was saved (the time went meanwhile, or to another booking of this plan)."""
    changes: tuple[tuple[str, Booking, Booking], ...] = ()
    """Each cancel and move done: ``("booking.status" or "booking.move", before, after)``."""

    def __str__(self) -> str:
        """``Cancelled 1 booking and moved 2; the clients are told.``"""
        done = [
            f"{verb} {count} booking{'s' if count != 1 else ''}"
            for verb, count in (("cancelled", self.cancelled), ("moved", self.moved))
            if count
        ]
        told = "the client is told" if self.cancelled + self.moved == 1 else "the clients are told"
        words = f"{' and '.join(done).capitalize()}; {told}." if done else ""
        if self.kept:
            words += f" Kept {self.kept} booking{'s' if self.kept != 1 else ''} as booked."
        return words.strip()


def _now() -> datetime:
    return datetime.now(UTC)


def fits(booking: Booking, resource: Resource | None, day: date, business: Business) -> bool:
    """Whether ``booking`` (buffers too) lies inside ``resource``'s working time on ``day``."""
    if resource is None or not resource.active:
        return False
    start = booking.start - timedelta(minutes=booking.buffer_before)
    end = booking.end + timedelta(minutes=booking.buffer_after)
    intervals = resource.schedule.intervals(day, business.rules.zone)
    return any(a <= start and end <= b for a, b in intervals)


class TimeOffPlanner:
    def __init__(
        self,
        catalogue: CatalogueService,
        bookings: BookingService,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._catalogue = catalogue
        self._bookings = bookings
        self._clock = clock

    async def stranded(self, after: Sequence[Resource]) -> list[Stranded]:
        """The confirmed bookings still to start that fit the schedules as they are and would
        not fit ``after`` (every resource, some changed), each with the times it could move to."""
        business = await self._catalogue.business()
        zone, now = business.rules.zone, self._clock()
        before = {r.id: r for r in await self._catalogue.resources()}
        changed = {r.id: r for r in after if r.id in before and r != before[r.id]}
        if not changed:
            return []
        today = now.astimezone(zone).date()
        # Staff may book up to ten years ahead; a booking can only be where a schedule changed.
        to_read = []
        for offset in range(rules_for(business, staff=True).horizon_days + 2):
            day = today + timedelta(days=offset)
            differ = [
                rid
                for rid, new in changed.items()
                if (not new.active and before[rid].active)
                or new.schedule.plan(day) != before[rid].schedule.plan(day)
            ]
            if differ:
                to_read.append((day, differ))
        found: list[Booking] = []
        for first in range(0, len(to_read), READ_BATCH):
            batch = to_read[first : first + READ_BATCH]
            days = await asyncio.gather(*(self._bookings.day(d, ids) for d, ids in batch))
            for (day, _), bookings in zip(batch, days, strict=True):
                found += (
                    booking
                    for booking in bookings
                    if booking.holds_time
                    and booking.status is Status.CONFIRMED
                    and booking.start > now
                    and fits(booking, before[booking.resource_id], day, business)
                    and not fits(booking, changed[booking.resource_id], day, business)
                )
        reader = _Days(self._bookings)
        return [
            Stranded(booking, await self._moves(booking, after, business, reader))
            for booking in found
        ]

    async def _moves(
        self, booking: Booking, after: Sequence[Resource], business: Business, reader: _Days
    ) -> tuple[Slot, ...]:
        try:
            treatment = await self._catalogue.treatment(booking.treatment_id)
        except NotFound:
            return ()
        zone, now = business.rules.zone, self._clock()
        rules = rules_for(business, staff=True)
        first = booking.start.astimezone(zone).date()
        capable = [r.id for r in after if r.id in treatment.resource_ids]
        found: list[Slot] = []
        for offset in range(MOVE_DAYS):
            day = first + timedelta(days=offset)
            occupied = await reader.occupied(day, capable, booking)
            found += available_slots(treatment, after, day, rules, occupied, now)
            if len(found) >= MOVE_CHOICES:
                break
        return tuple(found[:MOVE_CHOICES])

    async def resolve(
        self,
        stranded: Sequence[Stranded],
        choices: Mapping[str, Choice],
        save: Callable[[], Awaitable[None]],
    ) -> Outcome:
        """Cancel what is to be cancelled, ``await save()`` (the change itself), then move what
        is to be moved: moved after the save, so the engine, reading the new schedules, puts a
        booking only where they allow. ``InvalidInput`` (nothing done) if a booking has no
        choice or a move names a time not offered."""
        problems: dict[str, str] = {}
        for item in stranded:
            choice = choices.get(item.booking.id)
            if choice is None:
                problems[item.booking.id] = "Choose to move, cancel or keep this booking."
            elif choice.action is Action.MOVE and all(s.start != choice.start for s in item.moves):
                problems[item.booking.id] = "Choose one of the listed times to move it to."
        if problems:
            raise InvalidInput(problems)
        cancelled = kept = moved = 0
        failed: list[tuple[Booking, str]] = []
        changes: list[tuple[str, Booking, Booking]] = []
        for item in stranded:
            if choices[item.booking.id].action is Action.CANCEL:
                try:
                    done = await self._bookings.cancel(item.booking, by_client=False)
                    changes.append(("booking.status", item.booking, done.booking))
                    cancelled += 1
                except (Conflict, NotFound) as exc:
                    failed.append((item.booking, str(exc)))
        await save()
        for item in stranded:
            choice = choices[item.booking.id]
            if choice.action is Action.KEEP:
                kept += 1
            elif choice.action is Action.MOVE:
                assert choice.start is not None
                try:
                    done = await self._bookings.reschedule(
                        item.booking, choice.start, by_client=False
                    )
                    changes.append(("booking.move", item.booking, done.booking))
                    moved += 1
                except (SlotTaken, Conflict, InvalidInput, NotFound) as exc:
                    failed.append((item.booking, str(exc)))
        return Outcome(cancelled, moved, kept, tuple(failed), tuple(changes))


class _Days:
    """Bookings of days read once for one plan (the alternatives of many bookings share days)."""

    def __init__(self, bookings: BookingService) -> None:
        self._bookings = bookings
        self._read: dict[tuple[date, str], list[Booking]] = {}

    async def occupied(
        self, day: date, capable: Sequence[str], ignoring: Booking
    ) -> dict[str, set[int]]:
        occupied: dict[str, set[int]] = {r: set() for r in capable}
        for near in (day - timedelta(days=1), day, day + timedelta(days=1)):
            for resource in capable:
                if (near, resource) not in self._read:
                    self._read[near, resource] = await self._bookings.day(near, [resource])
                for booking in self._read[near, resource]:
                    if booking.holds_time and booking.id != ignoring.id:
                        occupied[resource].update(booking.units)
        return occupied
