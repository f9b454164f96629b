"""Opening hours in a business's own time zone, turned into real (UTC) intervals.

Hours are wall-clock times ("09:00-17:00 on Tuesdays"). On a daylight-saving day a wall-clock
time may not exist (clocks jump over it) or exist twice (clocks fall back): see :func:`to_utc`.
Durations are always real elapsed time: a 60-minute treatment takes 60 minutes whatever the
clocks say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Hours:
    """One stretch of opening on a day, in wall-clock time; ``end`` after ``start``."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"{self.end:%H:%M} is not after {self.start:%H:%M}")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    @classmethod
    def parse(cls, text: str) -> Hours:
        """``09:00-17:30``."""
        try:
            start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError as exc:
            raise ValueError(f"write hours like 09:00-17:30, not {text!r}") from exc
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(
                f"write hours in local time without an offset, like 09:00-17:30, not {text!r}: "
                "the business's time zone applies"
            )
        return cls(start, end)


EVERY_WEEK = date(2001, 1, 1)
"""A Monday long ago: a weekly block starts on this date plus its weekday, so it applies to
every such weekday (a block never reaches back before the day it was written, in practice)."""


@dataclass(frozen=True, slots=True)
class Block:
    """Time not for booking: a lunch, a training, a holiday, a closure of the whole salon.

    It covers ``hours`` (or the whole day when ``None``) on each day from ``first`` to ``last``
    (``None``: no end); if ``weekly``, only on ``first``'s weekday. One-off: ``first == last``.
    """

    first: date
    last: date | None
    hours: Hours | None = None
    weekly: bool = False
    label: str = ""

    def __post_init__(self) -> None:
        if self.last is not None and self.last < self.first:
            raise ValueError(f"{self.last} is before {self.first}")

    def on(self, day: date) -> bool:
        if day < self.first or (self.last is not None and day > self.last):
            return False
        return not self.weekly or day.weekday() == self.first.weekday()

    def interval(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The real interval it blocks on ``day`` (which it must be :meth:`on`)."""
        if self.hours is None:
            return local_day_bounds(day, zone)
        return to_utc(day, self.hours.start, zone), to_utc(day, self.hours.end, zone)

    def __str__(self) -> str:
        hours = "" if self.hours is None else f" {self.hours}"
        label = f" {self.label}" if self.label else ""
        if self.last == self.first and not self.weekly:
            return f"{self.first}{hours}{label}"
        if not self.weekly and self.last is not None:
            return f"{self.first} to {self.last}{hours}{label}"
        every = WEEKDAYS[self.first.weekday()] + "s" if self.weekly else "Every day"
        since = "" if self.first < EVERY_WEEK + timedelta(days=7) else f" from {self.first}"
        until = "" if self.last is None else f" until {self.last}"
        return f"{every}{since}{until}{hours}{label}"


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a resource (a therapist, a room) works."""

    weekly: tuple[tuple[Hours, ...], ...] = ((),) * 7
    """Monday first: the hours of each weekday."""
    closed: frozenset[date] = field(default_factory=frozenset)
    """Days off: holidays, leave."""
    exceptions: tuple[tuple[date, tuple[Hours, ...]], ...] = ()
    """One-off hours that replace a day's usual ones."""
    blocks: tuple[Block, ...] = ()
    """The resource's own time not for booking (lunch, training, leave)."""
    closures: tuple[Block, ...] = ()
    """The salon's closures: filled in from the business whenever resources are read, never
    stored with a resource (services.catalogue)."""

    def hours_on(self, day: date) -> tuple[Hours, ...]:
        """The wall-clock hours of ``day``: none on a day off, or a day a whole-day block or
        closure covers (so a page can say the day is closed, not that it is fully booked)."""
        if day in self.closed or any(
            block.hours is None and block.on(day) for block in (*self.blocks, *self.closures)
        ):
            return ()
        for exception_day, hours in self.exceptions:
            if exception_day == day:
                return hours
        return self.weekly[day.weekday()]

    def intervals(self, day: date, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """The real (UTC) intervals of work on ``day``, wall-clock hours read in ``zone``,
        less any blocked time and closure."""
        working = [
            (to_utc(day, hours.start, zone), to_utc(day, hours.end, zone))
            for hours in self.hours_on(day)
            if to_utc(day, hours.start, zone) < to_utc(day, hours.end, zone)
        ]
        for block in (*self.blocks, *self.closures):
            if working and block.on(day):
                working = _without(working, block.interval(day, zone))
        return working

    def plan(self, day: date) -> tuple[tuple[Hours, ...], tuple[Block, ...]]:
        """What decides ``day``'s working time, in wall-clock terms: two schedules with the same
        plan for a day have the same intervals that day (cheap to compare over years)."""
        return self.hours_on(day), tuple(
            block for block in (*self.blocks, *self.closures) if block.on(day)
        )

    def blocked(self, day: date, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """The real intervals of ``day`` that blocks and closures keep from booking."""
        return [
            block.interval(day, zone) for block in (*self.blocks, *self.closures) if block.on(day)
        ]


def _without(
    intervals: list[tuple[datetime, datetime]], cut: tuple[datetime, datetime]
) -> list[tuple[datetime, datetime]]:
    """``intervals`` with ``cut`` taken out of them."""
    kept = []
    for start, end in intervals:
        if start < cut[0]:
            kept.append((start, min(end, cut[0])))
        if cut[1] < end:
            kept.append((max(start, cut[1]), end))
    return kept


def to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant a wall clock in ``zone`` shows ``wall`` on ``day``, by PEP 495's rule
    (``fold=0``): a time shown twice is the first; a time never shown is read with the offset
    in force before the jump, so 01:30 on the night the clocks skip 01:00-02:00 is 02:30."""
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The real interval of a whole local day: 23, 24 or 25 hours long."""
    return to_utc(day, time(0), zone), to_utc(day + timedelta(days=1), time(0), zone)


_DAILY = ("every day", "daily")


def parse_block(text: str) -> Block:
    """One line of blocked time, as staff write it:

    ``2026-12-25`` · ``2026-12-24 to 2026-12-31 Christmas`` · ``2026-12-03 14:00-16:00 Training``
    · ``Tuesdays 12:00-13:00 Lunch`` · ``Every day 12:30-13:00 Lunch`` · ``Mondays from
    2027-01-04 until 2027-03-29 09:00-10:00 Team meeting``.
    """
    words = text.split()
    problem = ValueError(
        f"Write blocked time like 2026-12-24 to 2026-12-31, 2026-12-03 14:00-16:00 Training "
        f"or Tuesdays 12:00-13:00 Lunch (not {text.strip()!r})."
    )
    if not words:
        raise problem
    weekly, first, last = False, EVERY_WEEK, None
    lowered = " ".join(words[:2]).casefold()
    head = words[0].casefold().removesuffix("s")
    try:
        if lowered.startswith(_DAILY):
            words = words[1:] if words[0].casefold() == "daily" else words[2:]
            open_ended = True
        elif head.capitalize() in WEEKDAYS:
            weekly = open_ended = True
            first = EVERY_WEEK + timedelta(days=WEEKDAYS.index(head.capitalize()))
            words = words[1:]
        else:
            open_ended = False
            first = last = date.fromisoformat(words[0])
            words = words[1:]
            if words[:1] == ["to"] and len(words) > 1:
                last = date.fromisoformat(words[1])
                words = words[2:]
        if open_ended and words[:1] == ["from"] and len(words) > 1:
            since = date.fromisoformat(words[1])
            shift = (first.weekday() - since.weekday()) % 7 if weekly else 0
            first = since + timedelta(days=shift)
            words = words[2:]
        if open_ended and words[:1] == ["until"] and len(words) > 1:
            last = date.fromisoformat(words[1])
            words = words[2:]
        hours = None
        if words and ":" in words[0] and "-" in words[0]:
            hours = Hours.parse(words[0])
            words = words[1:]
        return Block(first, last, hours, weekly, " ".join(words)[:100])
    except ValueError as exc:
        raise problem from exc
