"""Days at a glance for the booking pages: which days of a month have free times for a
treatment (with anyone, or one therapist), why a day has none, and the next day that has some.

Everything is read through :meth:`BookingService.availability`, the same slot engine a booking
must pass, so a day shown as free has a time that can be booked. A day nobody works, or one
outside the booking window, is answered from the schedule and rules alone and reads no bookings;
a month reads at most one availability per working day in the window (each: that day's and its
neighbours' day lists and records), and the next free day at most the rest of the window, a week
at a time.
"""

from __future__ import annotations

import asyncio
import calendar
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.schedule import WEEKDAYS
from parlour.domain.slots import Slot
from parlour.services.bookings.engine import BookingService, now_utc
from parlour.services.catalogue import CatalogueService

WEEK = 7


class Why(enum.StrEnum):
    """Whether a day has free times, or why not."""

    FREE = "free"
    PAST = "past"
    BEYOND = "beyond"
    """After the last day bookings are open for."""
    CLOSED = "closed"
    """Nobody who does the treatment works that weekday."""
    OFF = "off"
    """A day off (a holiday, leave, or one-off hours with none)."""
    FULL = "full"


@dataclass(frozen=True, slots=True)
class DayTimes:
    day: date
    why: Why
    reason: str
    """What to tell a client: empty for a free day."""
    slots: tuple[Slot, ...] = ()

    @property
    def free(self) -> bool:
        return self.why is Why.FREE


@dataclass(frozen=True, slots=True)
class Window:
    today: date
    last: date
    """The last local day that can have a bookable time (the horizon)."""


def booking_window(rules: BookingRules, now: datetime) -> Window:
    today = now.astimezone(rules.zone).date()
    last = (now + timedelta(days=rules.horizon_days)).astimezone(rules.zone).date()
    return Window(today, last)


def performers(
    treatment: Treatment, resources: Sequence[Resource], resource: str = ""
) -> list[Resource]:
    """The active resources able to do ``treatment``: all of them, or just ``resource``."""
    return [
        r
        for r in resources
        if r.active and r.id in treatment.resource_ids and (not resource or r.id == resource)
    ]


def closed_reason(
    treatment: Treatment, resources: Sequence[Resource], day: date, resource: str = ""
) -> tuple[Why, str] | None:
    """Why nobody can do ``treatment`` on ``day`` from the schedules alone, or ``None`` if
    someone works then. Pure: reads no bookings."""
    able = performers(treatment, resources, resource)
    if any(r.schedule.hours_on(day) for r in able):
        return None
    weekday, works = WEEKDAYS[day.weekday()], _works_on(day.weekday())
    if resource and able:
        name = able[0].name
        if works(able[0]):
            return Why.OFF, f"{name} is off on {day:%A %-d %B}."
        return Why.CLOSED, f"{name} does not work on {weekday}s."
    if not able:
        return Why.CLOSED, f"{treatment.name} is not offered at the moment."
    if not any(works(r) for r in able):
        everyone = not any(works(r) for r in resources if r.active)
        who = "We are closed" if everyone else f"No one who does {treatment.name} works"
        return Why.CLOSED, f"{who} on {weekday}s."
    others_work = any(r.schedule.hours_on(day) for r in resources if r.active)
    who = f"No one who does {treatment.name} works" if others_work else "We are closed"
    return Why.OFF, f"{who} on {day:%A %-d %B}."


def _works_on(weekday: int) -> Callable[[Resource], bool]:
    return lambda resource: bool(resource.schedule.weekly[weekday])


def with_resource(slots: Sequence[Slot], resource: str) -> tuple[Slot, ...]:
    return tuple(s for s in slots if not resource or resource in s.resource_ids)


class CalendarDays:
    def __init__(
        self,
        bookings: BookingService,
        catalogue: CatalogueService,
        *,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._bookings = bookings
        self._catalogue = catalogue
        self._clock = clock

    def now(self) -> datetime:
        """The instant on this service's clock: what a page compares its bookings with."""
        return self._clock()

    async def window(self) -> Window:
        """Today and the last day bookings are open for, on the business's clock."""
        return booking_window((await self._catalogue.business()).rules, self._clock())

    async def today(self) -> date:
        """Today on the business's clock: the day a page shows unless asked for another."""
        return (await self.window()).today

    async def move_to(self, day: date) -> tuple[date, str]:
        """The day a move page shows for ``day``: a move never goes back in time (the date
        picker says so too), so a day that has passed gives today, and why."""
        today = await self.today()
        if day < today:
            return today, "A booking cannot move to a day that has passed; here is today."
        return day, ""

    async def day(self, treatment_id: str, day: date, resource: str = "") -> DayTimes:
        """The free times of ``day`` (with ``resource``, if given), or why it has none."""
        return (await self._days(treatment_id, [day], resource))[0]

    async def month(self, treatment_id: str, day: date, resource: str = "") -> list[DayTimes]:
        """Every day of the month ``day`` falls in, first to last."""
        length = calendar.monthrange(day.year, day.month)[1]
        first = day.replace(day=1)
        return await self._days(
            treatment_id, [first + timedelta(days=n) for n in range(length)], resource
        )

    async def next_free(self, treatment_id: str, after: date, resource: str = "") -> date | None:
        """The first day after ``after`` with a free time, or ``None`` in the whole window."""
        window = await self.window()
        day = max(after + timedelta(days=1), window.today)
        while day <= window.last:
            week = [day + timedelta(days=n) for n in range(WEEK)]
            for found in await self._days(treatment_id, week, resource):
                if found.free:
                    return found.day
            day += timedelta(days=WEEK)
        return None

    async def _days(self, treatment_id: str, days: Sequence[date], resource: str) -> list[DayTimes]:
        business = await self._catalogue.business()
        treatment = await self._catalogue.treatment(treatment_id)
        resources = await self._catalogue.resources()
        window = booking_window(business.rules, self._clock())
        answers: dict[date, DayTimes] = {}
        to_read = []
        for day in days:
            if day < window.today:
                answers[day] = DayTimes(day, Why.PAST, "That day has passed.")
            elif day > window.last:
                answers[day] = DayTimes(
                    day,
                    Why.BEYOND,
                    f"Bookings open {business.rules.horizon_days} days ahead, "
                    f"up to {window.last:%A %-d %B}.",
                )
            elif (closed := closed_reason(treatment, resources, day, resource)) is not None:
                answers[day] = DayTimes(day, *closed)
            else:
                to_read.append(day)
        found = await asyncio.gather(
            *(self._bookings.availability(treatment_id, day) for day in to_read)
        )
        for day, (_, slots) in zip(to_read, found, strict=True):
            free = with_resource(slots, resource)
            if free:
                answers[day] = DayTimes(day, Why.FREE, "", free)
            elif day == window.today:
                answers[day] = DayTimes(day, Why.FULL, "There are no times left today.")
            else:
                answers[day] = DayTimes(day, Why.FULL, "Every time that day is booked.")
        return [answers[day] for day in days]
