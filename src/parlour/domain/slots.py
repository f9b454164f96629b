"""The slot engine: which start times a treatment can be booked at on a date.

One pure function serves both the list a client picks from and the check a booking must pass,
so a time that is offered can be booked and a time that is not cannot. All arithmetic is on
real (UTC) instants in 5-minute units; local wall-clock time only decides where working hours
begin and end and which starts look round (09:00, 09:15, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from parlour.domain.catalogue import UNIT_MINUTES, BookingRules, Resource, Treatment
from parlour.domain.schedule import local_day_bounds

UNIT_SECONDS = UNIT_MINUTES * 60


def unit_of(instant: datetime) -> int:
    """The 5-minute unit an instant falls in (units count from the Unix epoch)."""
    return int(instant.timestamp()) // UNIT_SECONDS


def units_between(start: datetime, end: datetime) -> range:
    """Every unit that ``[start, end)`` touches."""
    return range(unit_of(start), -(-int(end.timestamp()) // UNIT_SECONDS))


def occupied_span(treatment: Treatment, start: datetime) -> tuple[datetime, datetime]:
    """The span a booking of ``treatment`` at ``start`` keeps its resource busy, buffers too."""
    return (
        start - timedelta(minutes=treatment.buffer_before),
        start + timedelta(minutes=treatment.duration + treatment.buffer_after),
    )


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    """UTC."""
    resource_ids: tuple[str, ...]
    """Those able and free to perform the treatment then, in the business's order."""


def day_units(day: date, rules: BookingRules) -> range:
    """The units of a whole local day: the only ones a listing of that day needs to read."""
    start, end = local_day_bounds(day, rules.zone)
    return units_between(start, end)


def available_slots(
    treatment: Treatment,
    resources: Sequence[Resource],
    day: date,
    rules: BookingRules,
    occupied: Mapping[str, set[int] | frozenset[int]],
    now: datetime,
) -> list[Slot]:
    """Start times on ``day`` at which at least one resource can perform ``treatment``.

    ``occupied`` maps resource ids to the units their bookings (buffers included) already hold;
    ``now`` (UTC) sets the minimum notice and the booking horizon.
    """
    if not treatment.active:
        return []
    free_at = _free_at(treatment, resources, day, rules, occupied)
    earliest, latest = booking_window(rules, now)
    day_start, day_end = local_day_bounds(day, rules.zone)
    step = timedelta(minutes=rules.slot_step)
    slots = []
    # Walking real time from local midnight in whole steps lands on round wall-clock times, and
    # crosses a clock change correctly: a skipped hour yields no starts, a repeated hour yields
    # its real instants once each.
    start = day_start
    while start < day_end:
        if earliest <= start <= latest:
            free = free_at(start)
            if free:
                slots.append(Slot(start, free))
        start += step
    return slots


def slot_at(
    treatment: Treatment,
    resources: Sequence[Resource],
    day: date,
    rules: BookingRules,
    occupied: Mapping[str, set[int] | frozenset[int]],
    now: datetime,
    start: datetime,
) -> Slot | None:
    """The one slot of :func:`available_slots` that starts at ``start`` (UTC), or ``None``:
    the same rules, without walking the whole day (what a booking needs to check)."""
    if not treatment.active:
        return None
    day_start, day_end = local_day_bounds(day, rules.zone)
    on_the_grid = (start - day_start) % timedelta(minutes=rules.slot_step) == timedelta(0)
    if not (day_start <= start < day_end and on_the_grid):
        return None
    earliest, latest = booking_window(rules, now)
    if not earliest <= start <= latest:
        return None
    free = _free_at(treatment, resources, day, rules, occupied)(start)
    return Slot(start, free) if free else None


def booking_window(rules: BookingRules, now: datetime) -> tuple[datetime, datetime]:
    """The first and last start ``rules`` allow at ``now``: the minimum notice and the
    horizon."""
    return now + timedelta(minutes=rules.min_notice), now + timedelta(days=rules.horizon_days)


def _free_at(
    treatment: Treatment,
    resources: Sequence[Resource],
    day: date,
    rules: BookingRules,
    occupied: Mapping[str, set[int] | frozenset[int]],
) -> Callable[[datetime], tuple[str, ...]]:
    """For a start time of ``day``: the resources able and free to perform ``treatment``
    then, in the business's order."""
    capable = [r for r in resources if r.active and r.id in treatment.resource_ids]
    working = {r.id: r.schedule.intervals(day, rules.zone) for r in capable}

    def free_at(start: datetime) -> tuple[str, ...]:
        span_start, span_end = occupied_span(treatment, start)
        units = units_between(span_start, span_end)
        return tuple(
            resource.id
            for resource in capable
            if any(a <= span_start and span_end <= b for a, b in working[resource.id])
            and occupied.get(resource.id, frozenset()).isdisjoint(units)
        )

    return free_at
