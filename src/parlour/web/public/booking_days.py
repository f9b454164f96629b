"""What the choose-a-time page shows beside the times: the therapist choice, a month of days
with and without free times, and for a day with none, why and the next day that has some."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from starlette.requests import Request

from parlour.services.bookings.calendar_days import DayTimes, Why, performers
from parlour.web.parts import core


@dataclass(frozen=True, slots=True)
class Month:
    first: date
    weeks: list[list[DayTimes | None]]
    """Monday first; ``None`` pads the weeks before the 1st and after the last day."""
    previous: date | None
    following: date | None


def month_weeks(days: list[DayTimes]) -> list[list[DayTimes | None]]:
    cells: list[DayTimes | None] = [None] * days[0].day.weekday() + list(days)
    cells += [None] * (-len(cells) % 7)
    return [cells[n : n + 7] for n in range(0, len(cells), 7)]


async def time_page(request: Request, treatment_id: str, day: date) -> dict[str, Any]:
    """The page's context: ``resource``, ``choices``, ``times`` (a :class:`DayTimes`),
    ``next_free``, ``month`` and ``resource_problem``."""
    catalogue, days = core(request).catalogue, core(request).days
    treatment = await catalogue.treatment(treatment_id)
    choices = performers(treatment, await catalogue.resources())
    wanted = request.query_params.get("resource", "")[:64]
    resource = wanted if any(r.id == wanted for r in choices) else ""
    problem = (
        f"That therapist does not do {treatment.name}; here is everyone who does."
        if wanted and not resource
        else ""
    )
    month = await days.month(treatment.id, day, resource)
    times = month[day.day - 1]
    next_free = None
    if not times.free and times.why is not Why.BEYOND:
        next_free = await days.next_free(treatment.id, day, resource)
    window = await days.window()
    first = day.replace(day=1)
    after = first + timedelta(days=calendar.monthrange(first.year, first.month)[1])
    before = (first - timedelta(days=1)).replace(day=1)
    return {
        # The day is in range (web.public.requested_day): a day either side exists.
        "previous_day": day - timedelta(days=1) if day > window.today else None,
        "next_day": day + timedelta(days=1),
        "resource": resource,
        "resource_problem": problem,
        "choices": choices,
        "chosen": next((r for r in choices if r.id == resource), None),
        "times": times,
        "slots": list(times.slots),
        "next_free": next_free,
        "month": Month(
            first,
            month_weeks(month),
            before if first > window.today else None,
            after if after <= window.last else None,
        ),
    }
