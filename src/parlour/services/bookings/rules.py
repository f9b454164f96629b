"""The booking engine's rules of time: which rules apply to whom, what a request may ask for,
and what to offer instead of a time that was refused. Pure functions, no storage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.slots import Slot, slot_at
from parlour.errors import InvalidInput
from parlour.services.catalogue import Business


def check_offered(
    business: Business,
    treatment: Treatment,
    resources: Sequence[Resource],
    day: date,
    start: datetime,
    wanted: str = "",
    *,
    staff: bool,
    now: datetime,
) -> None:
    """``InvalidInput`` for a time that is not offered even on an empty day (closed, out of
    hours, not on the slot grid): "taken" is said only of a time a booking holds."""
    empty = slot_at(treatment, resources, day, rules_for(business, staff), {}, now, start)
    if empty is None or (wanted and wanted not in empty.resource_ids):
        raise InvalidInput(
            {"start": "That time is not offered for this treatment. Choose a listed time."}
        )


def nearest(slots: Sequence[Slot], start: datetime, resource: str, count: int = 6) -> list[Slot]:
    """The free times nearest ``start``, never ``start`` itself (the time just refused)."""
    usable = [s for s in slots if s.start != start and (not resource or resource in s.resource_ids)]
    nearest = sorted(usable, key=lambda s: abs((s.start - start).total_seconds()))[:count]
    return sorted(nearest, key=lambda s: s.start)


def rules_for(business: Business, staff: bool) -> BookingRules:
    """Staff may book inside the notice period and up to ten years ahead."""
    if staff:
        return replace(business.rules, min_notice=0, horizon_days=3650)
    return business.rules


def check_window(start: datetime, rules: BookingRules, now: datetime) -> None:
    """A clear answer for a time that could never be offered, before any date arithmetic."""
    if start < now:
        raise InvalidInput({"start": "That time has passed. Choose a time from now on."})
    if start - now > timedelta(days=rules.horizon_days + 1):
        raise InvalidInput(
            {"start": f"Bookings open {rules.horizon_days} days ahead. Choose an earlier day."}
        )
