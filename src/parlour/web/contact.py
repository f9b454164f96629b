"""The salon on every page: its name, address and phone, and when it is open.

Every page carries them, error pages and staff pages included, so a client who meets a 404 or a
"too many attempts" still knows whose site this is and how to call. An error page must not wait
on the storage that may have caused the error, so there the lookup is bounded and may give up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time

from starlette.requests import Request

from parlour.domain.catalogue import Resource
from parlour.domain.schedule import WEEKDAYS, Hours
from parlour.errors import StorageError
from parlour.services.catalogue import Business
from parlour.web.parts import core

log = logging.getLogger(__name__)

ERROR_PAGE_WAIT = 0.25
"""Seconds an error page waits for the business before it is shown without it."""


@dataclass(frozen=True, slots=True)
class OpeningLine:
    days: str
    """``Monday``, or a run: ``Tuesday to Friday``."""
    hours: str
    """``09:00-13:00, 13:30-19:00``, or ``Closed``."""


def opening_hours(resources: Sequence[Resource]) -> list[OpeningLine]:
    """When anyone works, weekday by weekday (the union of every active resource's weekly
    hours), with consecutive days of the same hours in one line. Empty with no resources."""
    active = [r for r in resources if r.active]
    if not active:
        return []
    days = [_union([h for r in active for h in r.schedule.weekly[day]]) for day in range(7)]
    lines: list[OpeningLine] = []
    first = 0
    for day in range(1, 8):
        if day == 7 or days[day] != days[first]:
            last = day - 1
            label = WEEKDAYS[first] if last == first else f"{WEEKDAYS[first]} to {WEEKDAYS[last]}"
            text = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in days[first]) or "Closed"
            lines.append(OpeningLine(label, text))
            first = day
    return lines


def _union(hours: Sequence[Hours]) -> list[tuple[time, time]]:
    spans = sorted((h.start, h.end) for h in hours)
    merged: list[tuple[time, time]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


async def business_for_page(request: Request, *, wait: float | None = None) -> Business | None:
    """The business, or ``None`` if its store does not answer (within ``wait`` seconds)."""
    try:
        async with asyncio.timeout(wait):
            return await core(request).catalogue.business()
    except (StorageError, TimeoutError) as exc:
        log.info("showing %s without the business's details: %s", request.url.path, exc)
        return None


async def opening_for_page(request: Request) -> list[OpeningLine]:
    try:
        return opening_hours(await core(request).catalogue.resources())
    except StorageError as exc:
        log.info("showing %s without opening hours: %s", request.url.path, exc)
        return []
