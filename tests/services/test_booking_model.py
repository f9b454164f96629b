"""The booking engine as a state machine against a plain reference model (issue 10, item 2;
therapist intent and staff overrides, issue 24).

Random sequences of public and staff bookings (at listed times and at any quarter hour), client
cancellations and reschedules (keeping a therapist asked for by name, or to one the mover
chooses), staff moves, therapist changes, squeeze-ins outside hours and status changes, edits
of a treatment's duration and buffers, of a therapist's weekly hours, days off and special
hours, and a clock that only moves forward, from a Friday two days before the clocks go
forward in Europe/London (so the days offered cross the change). After every step:

- no two live bookings overlap on a resource, buffers included;
- the claimed units are exactly the units of the live bookings, each claimed by its booking;
- each manage token opens exactly its booking, and the store holds what the model holds.

And within the steps: every time availability lists can be booked right then; every refusal as
"taken" really overlaps a live booking; done and no-show only once a visit has started.

Budget: a few examples per backend in the normal run; ``pytest --hypothesis-profile=deep
tests/services/test_booking_model.py -s`` runs the long one and prints the steps per backend.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import Resource, Treatment
from parlour.domain.events import Actor
from parlour.domain.schedule import Hours, local_day_bounds
from parlour.domain.slots import occupied_span, units_between
from parlour.errors import Conflict, InvalidInput, SlotTaken
from parlour.services.bookings.changes import Amendment
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.keys import is_unit, unit_key
from parlour.services.bookings.records import BookRequest, ClientDetails
from parlour.services.catalogue import CatalogueService
from parlour.storage import Backend, KVStore

from support.backends import make_backend, params
from support.salon import FACIAL, LONDON, MASSAGE, furnish

T = TypeVar("T")
START = datetime(2027, 3, 26, 7, 0, tzinfo=UTC)
"""Friday morning; the clocks go forward in London on Sunday 28 March 2027."""
NORMAL = settings(max_examples=15, stateful_step_count=30, deadline=None)
"""The normal run's budget per backend; the deep profile replaces it."""
TREATMENTS = (MASSAGE, FACIAL)
RESOURCES = ("r_ann", "r_bob")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def overlaps(a: Booking, resource: str, units: range) -> bool:
    return a.holds_time and a.resource_id == resource and bool(set(a.units) & set(units))


class BookingMachine(RuleBasedStateMachine):
    """Subclassed per test with the backend and its event loop."""

    runner: ClassVar[asyncio.Runner]
    backend: ClassVar[Backend]
    namespaces: ClassVar[itertools.count[int]]
    steps: ClassVar[list[int]]
    taken: ClassVar[list[int]]

    def __init__(self) -> None:
        super().__init__()
        n = next(self.namespaces)

        def kv(namespace: str) -> KVStore:
            return KVStore(self.backend, f"{namespace}{n}")

        self.clock = Clock()
        self.store = kv("bookings")
        self.catalogue: CatalogueService = self.run(furnish(kv))
        self.service = BookingService(self.store, self.catalogue, clock=self.clock)
        self.treatments = {t.id: t for t in TREATMENTS}
        self.bookings: dict[str, Booking] = {}
        """The reference model: every booking made, as its last change left it."""
        self.tokens: dict[str, str] = {}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def day(self, offset: int) -> date:
        return self.clock.now.astimezone(LONDON).date() + timedelta(days=offset)

    def keep(self, booking: Booking) -> None:
        self.bookings[booking.id] = booking

    def live(self) -> list[Booking]:
        return [b for b in self.bookings.values() if b.holds_time]

    def pick(self, index: int) -> Booking | None:
        every = list(self.bookings)  # in the order made: ids are random, replays must agree
        return self.bookings[every[index % len(every)]] if every else None

    # -- bookings ----------------------------------------------------------------------------

    @rule(
        treatment=st.sampled_from([t.id for t in TREATMENTS]),
        offset=st.integers(0, 6),
        index=st.integers(0, 200),
        staff=st.booleans(),
    )
    def book_a_listed_time(self, treatment: str, offset: int, index: int, staff: bool) -> None:
        _, slots = self.run(self.service.availability(treatment, self.day(offset), staff=staff))
        if not slots:
            return
        slot = slots[index % len(slots)]
        by = Actor.STAFF if staff else Actor.CLIENT
        client = ClientDetails(
            f"Client {len(self.bookings)}", "" if staff else "c@example.com", "07700 900123"
        )
        booked = self.run(self.service.book(BookRequest(treatment, slot.start, client, by=by)))
        assert booked.booking.resource_id in slot.resource_ids
        self.keep(booked.booking)
        self.tokens[booked.booking.id] = booked.token

    @rule(
        treatment=st.sampled_from([t.id for t in TREATMENTS]),
        offset=st.integers(0, 6),
        quarter=st.integers(0, 95),
        resource=st.sampled_from([None, *RESOURCES]),
    )
    def book_any_quarter_hour(
        self, treatment: str, offset: int, quarter: int, resource: str | None
    ) -> None:
        midnight, _ = local_day_bounds(self.day(offset), LONDON)
        start = midnight + timedelta(minutes=15 * quarter)
        client = ClientDetails("Anyone", "a@example.com", "07700 900123")
        request = BookRequest(treatment, start, client, resource)
        try:
            booked = self.run(self.service.book(request))
        except SlotTaken:
            chosen = self.treatments[treatment]
            span = units_between(*occupied_span(chosen, start))
            able = [r for r in chosen.resource_ids if resource in (None, r)]
            self.taken[0] += 1
            assert any(overlaps(b, r, span) for b in self.live() for r in able), (
                "refused as taken, but no live booking holds that time"
            )
            return
        except (InvalidInput, Conflict):
            return  # not offered (closed, outside hours, notice, horizon)
        self.keep(booked.booking)
        self.tokens[booked.booking.id] = booked.token

    @precondition(lambda self: self.live())
    @rule(index=st.integers(0, 200), shift=st.integers(-4, 4), staff=st.booleans())
    def book_over_a_live_booking(self, index: int, shift: int, staff: bool) -> None:
        """Near a time a booking holds: mostly refused as taken, which must be true."""
        live = self.live()
        held = live[index % len(live)]
        start = held.start + timedelta(minutes=15 * shift)
        client = ClientDetails("Near", "n@example.com", "07700 900123")
        by = Actor.STAFF if staff else Actor.CLIENT
        request = BookRequest(held.treatment_id, start, client, held.resource_id, by=by)
        try:
            booked = self.run(self.service.book(request))
        except SlotTaken:
            self.taken[0] += 1
            chosen = self.treatments[held.treatment_id]
            span = units_between(*occupied_span(chosen, start))
            assert any(overlaps(b, held.resource_id, span) for b in self.live())
            return
        except (InvalidInput, Conflict):
            return
        self.keep(booked.booking)
        self.tokens[booked.booking.id] = booked.token

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 200), by_client=st.booleans())
    def cancel(self, index: int, by_client: bool) -> None:
        booking = self.pick(index)
        assert booking is not None
        allowed = not by_client or booking.client_may_change(self.clock.now, 24)
        try:
            changed = self.run(self.service.cancel(booking, by_client=by_client))
        except Conflict:
            assert not allowed
            return
        assert allowed or booking.status is Status.CANCELLED
        self.keep(changed.booking)

    @precondition(lambda self: self.bookings)
    @rule(
        index=st.integers(0, 200),
        offset=st.integers(0, 6),
        slot=st.integers(0, 200),
        by_client=st.booleans(),
    )
    def move(self, index: int, offset: int, slot: int, by_client: bool) -> None:
        booking = self.pick(index)
        assert booking is not None
        _, slots = self.run(
            self.service.availability(
                booking.treatment_id, self.day(offset), ignoring=booking, staff=not by_client
            )
        )
        if not slots:
            return
        target = slots[slot % len(slots)]
        try:
            moved = self.run(self.service.reschedule(booking, target.start, by_client=by_client))
        except (SlotTaken, InvalidInput):  # (SlotTaken is a kind of Conflict: caught first)
            # A therapist asked for by name is kept: refused only where they are not free.
            assert booking.requested
            assert booking.resource_id not in target.resource_ids
            return
        except Conflict:
            if by_client:
                assert not booking.client_may_change(self.clock.now, 24)
            else:
                assert booking.status is not Status.CONFIRMED
            return
        assert moved.booking.start == target.start
        assert moved.booking.resource_id in target.resource_ids
        assert moved.booking.requested == booking.requested
        if booking.requested:
            assert moved.booking.resource_id == booking.resource_id
        self.keep(moved.booking)

    # -- therapist intent and staff overrides (issue 24) --------------------------------------

    @precondition(lambda self: self.bookings)
    @rule(
        index=st.integers(0, 200),
        offset=st.integers(0, 6),
        slot=st.integers(0, 200),
        resource=st.sampled_from(["", *RESOURCES]),
        by_client=st.booleans(),
    )
    def move_to_a_chosen_therapist(
        self, index: int, offset: int, slot: int, resource: str, by_client: bool
    ) -> None:
        """A move naming a therapist (or anyone) lands with them, at a time listed for them."""
        booking = self.pick(index)
        assert booking is not None
        _, slots = self.run(
            self.service.availability(
                booking.treatment_id,
                self.day(offset),
                ignoring=booking,
                staff=not by_client,
                resource=resource,
            )
        )
        if not slots:
            return
        target = slots[slot % len(slots)]
        try:
            moved = self.run(
                self.service.reschedule(
                    booking, target.start, by_client=by_client, resource=resource
                )
            )
        except Conflict:
            assert booking.status is not Status.CONFIRMED or (
                by_client and not booking.client_may_change(self.clock.now, 24)
            )
            return
        assert moved.booking.start == target.start
        assert moved.booking.requested == bool(resource)
        assert moved.booking.resource_id == (resource or moved.booking.resource_id)
        self.keep(moved.booking)

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 200), resource=st.sampled_from(RESOURCES), squeeze=st.booleans())
    def staff_change_only_the_therapist(self, index: int, resource: str, squeeze: bool) -> None:
        booking = self.pick(index)
        assert booking is not None
        try:
            changed = self.run(
                self.service.amend(booking, Amendment(resource=resource, squeeze=squeeze))
            )
        except SlotTaken:  # (a kind of Conflict: caught first)
            if squeeze:  # only a claim refuses a squeeze-in: someone else holds that time
                self.taken[0] += 1
                # at the treatment's length now: a change takes the catalogue's current one
                span = units_between(
                    *occupied_span(self.treatments[booking.treatment_id], booking.start)
                )
                others = [b for b in self.live() if b.id != booking.id]
                assert any(overlaps(b, resource, span) for b in others)
            return
        except Conflict:
            assert booking.status is not Status.CONFIRMED
            return
        except InvalidInput:  # not able, not working then, or not on the grid
            return
        assert changed.booking.start == booking.start
        assert changed.booking.resource_id == resource
        self.keep(changed.booking)

    @rule(
        treatment=st.sampled_from([t.id for t in TREATMENTS]),
        offset=st.integers(0, 6),
        unit=st.integers(0, 287),
        resource=st.sampled_from([None, *RESOURCES]),
    )
    def squeeze_in_outside_hours(
        self, treatment: str, offset: int, unit: int, resource: str | None
    ) -> None:
        """Staff's override at any 5-minute start, open or not: only the claims decide."""
        midnight, _ = local_day_bounds(self.day(offset), LONDON)
        start = midnight + timedelta(minutes=5 * unit)
        client = ClientDetails("Squeezed", "", "07700 900123")
        request = BookRequest(treatment, start, client, resource, by=Actor.STAFF, squeeze=True)
        chosen = self.treatments[treatment]
        try:
            booked = self.run(self.service.book(request))
        except SlotTaken:
            span = units_between(*occupied_span(chosen, start))
            self.taken[0] += 1
            for able in [r for r in chosen.resource_ids if resource in (None, r)]:
                assert any(overlaps(b, able, span) for b in self.live())
            return
        except InvalidInput:  # in the past, or a resource that does not do it
            assert start < self.clock.now or resource not in (None, *chosen.resource_ids)
            return
        assert booked.booking.start == start
        assert booked.booking.requested == bool(resource)
        self.keep(booked.booking)
        self.tokens[booked.booking.id] = booked.token

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 200), status=st.sampled_from(Status))
    def set_status(self, index: int, status: Status) -> None:
        booking = self.pick(index)
        assert booking is not None
        try:
            changed = self.run(self.service.set_status(booking, status))
        except SlotTaken:  # reinstated, but its time is someone else's now
            assert not booking.holds_time
            assert any(overlaps(b, booking.resource_id, booking.units) for b in self.live())
            return
        except Conflict:
            assert booking.refuses(status, self.clock.now)
            return
        assert booking.status is status or not booking.refuses(status, self.clock.now)
        self.keep(changed.booking)

    # -- the catalogue -----------------------------------------------------------------------

    @rule(
        treatment=st.sampled_from(TREATMENTS),
        duration=st.sampled_from([15, 30, 45, 60, 90]),
        before=st.sampled_from([0, 5, 10, 15]),
        after=st.sampled_from([0, 5, 10, 30]),
    )
    def edit_treatment(self, treatment: Treatment, duration: int, before: int, after: int) -> None:
        edited = replace(
            self.treatments[treatment.id],
            duration=duration,
            buffer_before=before,
            buffer_after=after,
        )
        self.run(self.catalogue.put_treatment(edited))
        self.treatments[edited.id] = edited

    def resource(self, resource_id: str) -> Resource:
        return next(r for r in self.run(self.catalogue.resources()) if r.id == resource_id)

    @rule(
        resource=st.sampled_from(RESOURCES),
        weekday=st.integers(0, 6),
        opens=st.integers(0, 12),
        hours=st.integers(1, 12),
    )
    def set_weekly_hours(self, resource: str, weekday: int, opens: int, hours: int) -> None:
        current = self.resource(resource)
        weekly = list(current.schedule.weekly)
        weekly[weekday] = (Hours(time(opens), time(min(23, opens + hours))),)
        schedule = replace(current.schedule, weekly=tuple(weekly))
        self.run(self.catalogue.put_resource(replace(current, schedule=schedule)))

    @rule(resource=st.sampled_from(RESOURCES), offset=st.integers(0, 6))
    def day_off(self, resource: str, offset: int) -> None:
        current = self.resource(resource)
        closed = current.schedule.closed | {self.day(offset)}
        schedule = replace(current.schedule, closed=closed)
        self.run(self.catalogue.put_resource(replace(current, schedule=schedule)))

    @rule(
        resource=st.sampled_from(RESOURCES),
        offset=st.integers(0, 6),
        opens=st.integers(0, 20),
        hours=st.integers(1, 6),
    )
    def special_hours(self, resource: str, offset: int, opens: int, hours: int) -> None:
        current = self.resource(resource)
        day = self.day(offset)
        others = tuple(e for e in current.schedule.exceptions if e[0] != day)
        special = (Hours(time(opens), time(min(23, opens + hours))),)
        schedule = replace(current.schedule, exceptions=(*others, (day, special)))
        self.run(self.catalogue.put_resource(replace(current, schedule=schedule)))

    @rule(minutes=st.sampled_from([5, 30, 60, 180, 600, 1440, 2880]))
    def time_passes(self, minutes: int) -> None:
        self.clock.now += timedelta(minutes=minutes)

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def no_two_live_bookings_overlap(self) -> None:
        self.steps[0] += 1
        if self.steps[0] % 10000 == 0:  # the deep run's progress, with -s
            print(f"... {self.steps[0]} steps", flush=True)
        live = self.live()
        for a, b in itertools.combinations(live, 2):
            assert not overlaps(a, b.resource_id, b.units), (a, b)

    @invariant()
    def the_claims_are_exactly_the_live_bookings_units(self) -> None:
        stored = self.run(self.store.get_all_items())
        claims = {k: v for k, v in stored.items() if is_unit(k)}
        expected = {unit_key(b.resource_id, u): b.id for b in self.live() for u in b.units}
        assert claims == expected

    @invariant()
    def the_store_holds_the_model_and_each_token_opens_its_booking(self) -> None:
        for booking_id, token in self.tokens.items():
            opened = self.run(self.service.by_token(token))
            assert opened == self.bookings[booking_id]


MODEL_BACKENDS = params(["memory", "sqlite", "redis"])


def run_model(
    machine_class: type[BookingMachine],
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    budget: object,
) -> tuple[list[int], list[int]]:
    """Run ``machine_class`` on a fresh backend of ``kind``; (steps, refusals checked)."""
    steps, taken = [0], [0]
    with asyncio.Runner() as runner:
        backend = make_backend(kind, tmp_path, request)
        runner.run(backend.open())
        try:
            machine = type(
                "Machine",
                (machine_class,),
                {
                    "runner": runner,
                    "backend": backend,
                    "namespaces": itertools.count(),
                    "steps": steps,
                    "taken": taken,
                },
            )
            run_state_machine_as_test(machine, settings=budget)  # type: ignore[arg-type]
        finally:
            runner.run(backend.close())
    return steps, taken


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("kind", MODEL_BACKENDS)
def test_every_sequence_of_booking_commands_keeps_the_calendar_right(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    deep = request.config.getoption("hypothesis_profile", None) == "deep"
    steps, taken = run_model(BookingMachine, kind, tmp_path, request, None if deep else NORMAL)
    print(f"booking model on {kind}: {steps[0]} steps, {taken[0]} refusals as taken checked")
