"""A booking's waiting reminder, as a state machine: whatever staff and clients do to bookings,
the outbox holds exactly one reminder for each confirmed booking with an address whose reminder
is still to come, saying what is true now (when, with whom, to whom), and none for any other.

Random sequences of bookings, moves to another time, therapist changes at the same time,
corrected or removed client details, cancellations and reinstatements, through the booking
engine with the Notifier as its stage hook (as ``Core.assemble`` wires it). The reference is the
bookings as the engine's answers left them; after every step the reminders the outbox holds
are compared with what those bookings call for. A reminder that followed only the start (the
defect: a therapist change at the same time kept the old name) fails the first such step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

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
from parlour.errors import Conflict, InvalidInput, SlotTaken
from parlour.links import Links
from parlour.services.bookings.changes import Amendment
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.records import BookRequest, ClientDetails, booking_from_json
from parlour.services.notices.notifier import NoticePolicy, Notifier, reminder_due, reminder_id
from parlour.services.outbox.records import State
from parlour.services.outbox.store import Outbox
from parlour.services.sealing import Sealer
from parlour.storage import KVStore
from parlour.storage.memory import MemoryBackend

from support.salon import DAY, FACIAL, LONDON, NOW, at, client, furnish

T = TypeVar("T")
POLICY = NoticePolicy(reminder_before=86400)
NAMES = {"r_ann": "Ann", "r_bob": "Bob"}
REFUSED = (SlotTaken, InvalidInput, Conflict)
"""What a change may meet (the time taken, the therapist busy): the model keeps what it had."""


class ReminderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.backend = MemoryBackend()
        self.run(self.backend.open())

        def kv(namespace: str) -> KVStore:
            return KVStore(self.backend, namespace)

        catalogue = self.run(furnish(kv))
        store = kv("bookings")
        notifier = Notifier(store, catalogue, Sealer(b"s" * 48), Links("https://x.test"), POLICY)
        self.bookings = BookingService(store, catalogue, clock=lambda: NOW, stage=notifier.stage)
        self.outbox = Outbox(store)
        self.model: dict[str, Booking] = {}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def teardown(self) -> None:
        self.run(self.backend.close())
        self.runner.close()

    def pick(self, index: int) -> Booking:
        every = list(self.model)  # in the order made: replays must agree
        return self.model[every[index % len(every)]]

    def attempt(self, change: Coroutine[Any, Any, Any]) -> None:
        try:
            changed = self.run(change)
        except REFUSED:
            return
        self.model[changed.booking.id] = changed.booking

    @staticmethod
    def when(day: int, hour: int) -> str:
        return at(hour, day=DAY + timedelta(days=day))

    @rule(
        day=st.integers(0, 1),
        hour=st.integers(9, 16),
        resource=st.sampled_from(list(NAMES)),
        n=st.integers(1, 3),
    )
    def book(self, day: int, hour: int, resource: str, n: int) -> None:
        fields = {"treatment": FACIAL.id, "start": self.when(day, hour), "resource": resource}
        self.attempt(self.bookings.book(BookRequest.from_fields({**fields, **client(n)})))

    @precondition(lambda self: self.model)
    @rule(index=st.integers(0, 50), day=st.integers(0, 1), hour=st.integers(9, 16))
    def move(self, index: int, day: int, hour: int) -> None:
        start = datetime.fromisoformat(self.when(day, hour))
        self.attempt(self.bookings.reschedule(self.pick(index), start, by_client=False))

    @precondition(lambda self: self.model)
    @rule(index=st.integers(0, 50), resource=st.sampled_from(list(NAMES)))
    def give_to(self, index: int, resource: str) -> None:
        self.attempt(self.bookings.amend(self.pick(index), Amendment(resource=resource)))

    @precondition(lambda self: self.model)
    @rule(index=st.integers(0, 50), n=st.integers(1, 3), address=st.booleans())
    def correct_client(self, index: int, n: int, address: bool) -> None:
        details = client(n, name=f"Renamed {n}")
        person = ClientDetails(details["name"], details["email"] if address else "", "07700 900123")
        self.attempt(self.bookings.amend(self.pick(index), Amendment(client=person)))

    @precondition(lambda self: self.model)
    @rule(index=st.integers(0, 50))
    def cancel(self, index: int) -> None:
        self.attempt(self.bookings.cancel(self.pick(index), by_client=False))

    @precondition(lambda self: self.model)
    @rule(index=st.integers(0, 50))
    def reinstate(self, index: int) -> None:
        self.attempt(self.bookings.set_status(self.pick(index), Status.CONFIRMED))

    @invariant()
    def the_reminders_say_what_is_true_now(self) -> None:
        expected = {
            reminder_id(b): (b.email, NAMES[b.resource_id], b.client_name, b.start.isoformat())
            for b in self.model.values()
            if b.status is Status.CONFIRMED
            and b.email
            and reminder_due(b.start, POLICY.reminder_before, LONDON, NOW) is not None
        }
        listed = self.run(self.outbox.listing(NOW.timestamp() + 30 * 86400))
        held = {}
        for state in (State.PENDING, State.HELD, State.DEAD):
            for message in listed[state]:
                if message.kind == "reminder":
                    data = message.data
                    assert isinstance(data["booking"], dict)
                    said = booking_from_json(data["booking"])
                    who = (message.to[0], data["therapist"], said.client_name)
                    held[message.id] = (*who, said.start.isoformat())
        assert held == expected


NORMAL = settings(max_examples=25, stateful_step_count=25, deadline=None)
"""The normal run's budget; ``--hypothesis-profile=deep`` replaces it."""


def test_reminders_follow_their_bookings(request: pytest.FixtureRequest) -> None:
    deep = request.config.getoption("hypothesis_profile", None) == "deep"
    run_state_machine_as_test(ReminderMachine, settings=None if deep else NORMAL)
