"""Why a client cannot book a time even on an empty day, in words they can act on.

The booking pages ask before they show a details form (a bookmarked or hand-made link may name
any instant), and again when the engine refuses a time as not offered: "not offered" alone does
not tell a client that the salon needs two hours' notice. Pure: the clock is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from parlour.domain.catalogue import Resource, Treatment
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
    if start < now:
        return "That time has passed. Choose a time from now on."
    if start > now + timedelta(days=rules.horizon_days):
        last = (now + timedelta(days=rules.horizon_days)).astimezone(rules.zone)
        return (
            f"Bookings open {rules.horizon_days} days ahead, up to {last:%A %-d %B}. "
            "Choose an earlier day."
        )
    day = local.date()
    if (start - local_day_bounds(day, rules.zone)[0]) % timedelta(minutes=rules.slot_step):
        return (
            f"Times start every {rules.slot_step} minutes; {local:%H:%M} is not one of them. "
            "Choose a listed time."
        )
    anytime = replace(rules, min_notice=0)
    slot = slot_at(treatment, resources, day, anytime, {}, now, start)
    if slot is None or (wanted and wanted not in slot.resource_ids):
        who = next((r.name for r in resources if wanted and r.id == wanted), "")
        return (
            f"{treatment.name} is not offered on {local:{_WHEN}}"
            f"{' with ' + who if who else ''}: that is outside the hours it is done. "
            "Choose a listed time."
        )
    earliest = now + timedelta(minutes=rules.min_notice)
    if start < earliest:
        return (
            f"We need {notice(rules.min_notice)} notice to get ready for a booking, so the "
            f"first time you can book online is {earliest.astimezone(rules.zone):{_WHEN}}."
            f"{' Call us on ' + business.phone + ' for sooner.' if business.phone else ''}"
        )
    return ""


def notice(minutes: int) -> str:
    """``120`` as "2 hours", ``1440`` as "1 day", ``90`` as "90 minutes"."""
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{minutes} minutes"  # pragma: no cover (every whole number divides by 1)
