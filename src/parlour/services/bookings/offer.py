"""Why a client cannot book a time even on an empty day, in words they can act on.

The booking pages ask before they show a details form (a bookmarked or hand-made link may name
any instant), and again when the engine refuses a time as not offered: "not offered" alone does
not tell a client that the salon needs two hours' notice. Pure: the clock is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.schedule import local_day_bounds
from parlour.domain.slots import slot_at
from parlour.services.catalogue import Business

_WHEN = "%A %-d %B at %H:%M"


def refusal(
    business: Business,
    treatment: Treatment,
    resources: Sequence[Resource],
    start: datetime,
    now: datetime,
    wanted: str = "",
) -> str:
    """Why ``start`` cannot be booked by a client whoever else has booked, or ``""`` if it
    could be (it may still be taken)."""
    rules = business.rules
    local = start.astimezone(rules.zone)
    when = _when_refused(rules, start, now)
    if when:
        return when
    if not treatment.active:
        return f"{treatment.name} is not offered any more. Choose another treatment."
    who = next((r.name for r in resources if wanted and r.id == wanted), "")
    if wanted and wanted not in treatment.resource_ids:
        return f"{who or 'That therapist'} does not do {treatment.name}. Choose a listed time."
    anytime = replace(rules, min_notice=0)
    slot = slot_at(treatment, resources, local.date(), anytime, {}, now, start)
    if slot is None or (wanted and wanted not in slot.resource_ids):
        return (
            f"{treatment.name} is not offered on {local:{_WHEN}}"
            f"{' with ' + who if who else ''}: that is outside the hours it is done. "
            "Choose a listed time."
        )
    earliest = now + timedelta(minutes=rules.min_notice)
    if start < earliest:
        return (
            f"We need {notice(rules.min_notice)} notice to get ready for a booking, so the "
            f"times you can book online start after {earliest.astimezone(rules.zone):{_WHEN}}."
            f"{' Call us on ' + business.phone + ' for sooner.' if business.phone else ''}"
        )
    return ""


def _when_refused(rules: BookingRules, start: datetime, now: datetime) -> str:
    """Past, beyond the horizon, or off the grid of start times: whatever the treatment."""
    local = start.astimezone(rules.zone)
    if start < now:
        return "That time has passed. Choose a time from now on."
    if start > now + timedelta(days=rules.horizon_days):
        last = (now + timedelta(days=rules.horizon_days)).astimezone(rules.zone)
        return (
            f"Bookings open {rules.horizon_days} days ahead, up to {last:%A %-d %B}. "
            "Choose an earlier day."
        )
    if (start - local_day_bounds(local.date(), rules.zone)[0]) % timedelta(minutes=rules.slot_step):
        return (
            f"Times start every {rules.slot_step} minutes; {local:%H:%M} is not one of them. "
            "Choose a listed time."
        )
    return ""


def notice(minutes: int) -> str:
    """``120`` as "2 hours", ``1440`` as "1 day", ``90`` as "90 minutes"."""
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{minutes} minutes"  # pragma: no cover (every whole number divides by 1)
