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


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a resource (a therapist, a room) works."""

    weekly: tuple[tuple[Hours, ...], ...] = ((),) * 7
    """Monday first: the hours of each weekday."""
    closed: frozenset[date] = field(default_factory=frozenset)
    """Days off: holidays, leave."""
    exceptions: tuple[tuple[date, tuple[Hours, ...]], ...] = ()
    """One-off hours that replace a day's usual ones."""

    def hours_on(self, day: date) -> tuple[Hours, ...]:
        if day in self.closed:
            return ()
        for exception_day, hours in self.exceptions:
            if exception_day == day:
                return hours
        return self.weekly[day.weekday()]

    def intervals(self, day: date, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """The real (UTC) intervals of work on ``day``, wall-clock hours read in ``zone``."""
        return [
            (to_utc(day, hours.start, zone), to_utc(day, hours.end, zone))
            for hours in self.hours_on(day)
            if to_utc(day, hours.start, zone) < to_utc(day, hours.end, zone)
        ]


def to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant a wall clock in ``zone`` shows ``wall`` on ``day``, by PEP 495's rule
    (``fold=0``): a time shown twice is the first; a time never shown is read with the offset
    in force before the jump, so 01:30 on the night the clocks skip 01:00-02:00 is 02:30."""
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The real interval of a whole local day: 23, 24 or 25 hours long."""
    return to_utc(day, time(0), zone), to_utc(day + timedelta(days=1), time(0), zone)
