"""Time not for booking, model-checked (issue 24): the booking state machine of
test_booking_model.py, with blocked hours on a therapist (one-off or weekly), leave over a range
of days and salon-wide closures (whole days or some hours) added, and lifted again, as it runs.

Against a plain reference model (each block as the wall-clock times it covers), after any
sequence of steps:

- availability never offers a therapist at a time whose span (buffers too) touches blocked
  time, leave or a closure;
- every offered time books (the base machine's rule, kept), and a time inside a block is
  refused as not offered, never booked.

Budget: a few examples on memory and SQLite in the normal run; ``--hypothesis-profile=deep``
runs the long one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from parlour.domain.events import Actor
from parlour.domain.schedule import Block, Hours, to_utc
from parlour.domain.slots import occupied_span
from parlour.errors import InvalidInput
from parlour.services.bookings.records import BookRequest, ClientDetails
from services.test_booking_model import RESOURCES, TREATMENTS, BookingMachine, run_model

from support.backends import params
from support.salon import LONDON

NORMAL = settings(max_examples=8, stateful_step_count=30, deadline=None)


@dataclass(frozen=True)
class Blocked:
    """The reference: who (``None``: the whole salon), which days, which wall-clock hours."""

    resource: str | None
    first: date
    last: date
    weekly: bool
    hours: tuple[time, time] | None
    block: Block
    """The block itself, as stored (to lift it again)."""

    def on(self, day: date) -> bool:
        in_range = self.first <= day <= self.last
        return in_range and (not self.weekly or day.weekday() == self.first.weekday())

    def touches(self, resource: str, start: datetime, end: datetime) -> bool:
        """Whether the real span ``[start, end)`` on ``resource`` meets this block."""
        if self.resource not in (None, resource):
            return False
        local_start, local_end = start.astimezone(LONDON), end.astimezone(LONDON)
        day = local_start.date()
        while day <= local_end.date():
            if self.on(day):
                if self.hours is None:
                    return True
                opens = datetime.combine(day, self.hours[0])
                closes = datetime.combine(day, self.hours[1])
                naive_start, naive_end = (
                    local_start.replace(tzinfo=None),
                    local_end.replace(tzinfo=None),
                )
                if naive_start < closes and opens < naive_end:
                    return True
            day += timedelta(days=1)
        return False


class ClosuresMachine(BookingMachine):
    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[Blocked] = []

    @rule(
        resource=st.sampled_from(RESOURCES),
        offset=st.integers(0, 6),
        opens=st.integers(6, 19),
        hours=st.integers(1, 4),
        weekly=st.booleans(),
    )
    def block_hours(self, resource: str, offset: int, opens: int, hours: int, weekly: bool) -> None:
        day = self.day(offset)
        wall = (time(opens), time(opens + hours))
        current = self.resource(resource)
        block = Block(day, None if weekly else day, Hours(*wall), weekly, "Lunch")
        schedule = replace(current.schedule, blocks=(*current.schedule.blocks, block))
        self.run(self.catalogue.put_resource(replace(current, schedule=schedule)))
        self.blocked.append(
            Blocked(resource, day, date.max if weekly else day, weekly, wall, block)
        )

    @rule(resource=st.sampled_from(RESOURCES), offset=st.integers(0, 6), days=st.integers(1, 4))
    def leave(self, resource: str, offset: int, days: int) -> None:
        first, last = self.day(offset), self.day(offset + days - 1)
        current = self.resource(resource)
        block = Block(first, last, label="Holiday")
        schedule = replace(current.schedule, blocks=(*current.schedule.blocks, block))
        self.run(self.catalogue.put_resource(replace(current, schedule=schedule)))
        self.blocked.append(Blocked(resource, first, last, False, None, block))

    @rule(
        offset=st.integers(0, 6),
        days=st.integers(1, 2),
        opens=st.none() | st.integers(6, 19),
        hours=st.integers(1, 4),
    )
    def close_the_salon(self, offset: int, days: int, opens: int | None, hours: int) -> None:
        first, last = self.day(offset), self.day(offset + days - 1)
        wall = None if opens is None else (time(opens), time(opens + hours))
        closure = Block(first, last, None if wall is None else Hours(*wall), label="Closed")
        current = self.run(self.catalogue.closures())
        self.run(self.catalogue.put_closures((*current, closure)))
        self.blocked.append(Blocked(None, first, last, False, wall, closure))

    @precondition(lambda self: self.blocked)
    @rule(index=st.integers(0, 200))
    def lift_a_block(self, index: int) -> None:
        gone = self.blocked[index % len(self.blocked)]
        same = [b for b in self.blocked if (b.resource, b.block) == (gone.resource, gone.block)]
        self.blocked = [b for b in self.blocked if b not in same]
        if gone.resource is None:
            current = self.run(self.catalogue.closures())
            kept = tuple(c for c in current if c != gone.block)
            self.run(self.catalogue.put_closures(kept))
            return
        resource = self.resource(gone.resource)
        blocks = tuple(b for b in resource.schedule.blocks if b != gone.block)
        schedule = replace(resource.schedule, blocks=blocks)
        self.run(self.catalogue.put_resource(replace(resource, schedule=schedule)))

    @rule(
        treatment=st.sampled_from([t.id for t in TREATMENTS]),
        offset=st.integers(0, 6),
        staff=st.booleans(),
    )
    def nothing_blocked_is_offered(self, treatment: str, offset: int, staff: bool) -> None:
        chosen = self.treatments[treatment]
        _, slots = self.run(self.service.availability(treatment, self.day(offset), staff=staff))
        for slot in slots:
            start, end = occupied_span(chosen, slot.start)
            for resource in slot.resource_ids:
                hit = [b for b in self.blocked if b.touches(resource, start, end)]
                assert not hit, f"{slot.start} offered on {resource} inside {hit}"

    @precondition(lambda self: self.blocked)
    @rule(index=st.integers(0, 200), staff=st.booleans(), offset=st.integers(0, 6))
    def a_time_inside_a_block_is_refused(self, index: int, staff: bool, offset: int) -> None:
        block = self.blocked[index % len(self.blocked)]
        day = block.first if not block.weekly else self.day(offset)
        if not block.on(day):
            return
        wall = time(12) if block.hours is None else block.hours[0]
        start = to_utc(day, wall, LONDON)
        for treatment in TREATMENTS:
            for resource in treatment.resource_ids:
                if block.resource not in (None, resource):
                    continue
                client = ClientDetails("Blocked", "b@example.com", "07700 900123")
                by = Actor.STAFF if staff else Actor.CLIENT
                request = BookRequest(treatment.id, start, client, resource, by=by)
                with pytest.raises(InvalidInput):
                    self.run(self.service.book(request))


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("kind", params(["memory", "sqlite"]))
def test_blocked_time_and_closures_are_never_offered_and_every_offer_books(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    deep = request.config.getoption("hypothesis_profile", None) == "deep"
    steps, taken = run_model(ClosuresMachine, kind, tmp_path, request, None if deep else NORMAL)
    print(f"closures model on {kind}: {steps[0]} steps, {taken[0]} refusals as taken checked")
