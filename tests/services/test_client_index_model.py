"""The client index as a state machine against the derivation it replaces (issue 21, item 6),
with issue 24's identity rule (a phone number joins nobody) and staff's edits and merges.

Random sequences of bookings (public and staff, phone-only too, with names, addresses and
numbers drawn from small pools so that clients share phones, change the case of their address
and the spelling of their name), client and staff cancellations, moves, status changes, new
links, erasures, staff notes (some of them alerts), a client's details edited (refused when they
name another client) and two clients merged, the index forgotten (a deployment from before it:
the next read builds it), marked as built by an older rule (built again over itself) or left as
the rule before issue 24 kept it (phone-only bookings under their number alone, and that
number's owners: the rebuild takes them apart), and a clock that moves forward (an hour after a
build, the next read builds once more).
After every step, read through the index a page of two at a time, the whole list equals
``clients.group`` of every booking (the old code, kept as the reference): the same clients in the
same order with the same figures; every client opens with the same keys and bookings; a search
finds exactly the clients ``ClientHistory.matches`` says, each once; every note is shown on the
client whose key it was written on or edited or merged into, and every alert on that client's
bookings.

Leaves of three strings, so the sorted index splits and empties leaves within a few steps.
Budget: a few examples per backend in the normal run; ``pytest --hypothesis-profile=deep
tests/services/test_client_index_model.py -s`` runs the long one.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
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
from parlour.domain.events import Actor
from parlour.domain.schedule import local_day_bounds
from parlour.errors import Conflict, InvalidInput, SlotTaken
from parlour.services.bookings.client_index import summary
from parlour.services.bookings.client_keys import client_id, client_key, client_key_of, phone_key
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.keys import (
    CLIENT_INDEX_BUILT,
    client_owners_key,
    client_summaries_key,
    is_client_index,
)
from parlour.services.bookings.records import BookRequest, ClientDetails
from parlour.services.clients.directory import ClientDirectory, Row
from parlour.services.clients.records import ClientRecords
from parlour.services.clients.service import ClientService, group
from parlour.services.reviews import ReviewService
from parlour.storage import Backend, KVStore
from parlour.storage.base import DELETE

from support.backends import make_backend, params
from support.salon import FACIAL, LONDON, MASSAGE, furnish

T = TypeVar("T")
START = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
NORMAL = settings(max_examples=12, stateful_step_count=40, deadline=None)
NAMES = ("Ann Example", "ann example", "Bea Smith-Jones", "Cy O'Brien", "Dee", "Ann")
EMAILS = (
    "ann@example.com",
    "ANN@Example.com",
    "bea@example.com",
    "cy@example.org",
    "dee@example.net",
    "eve@example.com",
    "",
)
"""The empty one: a phone-only booking, which staff make."""
PHONES = ("07700 900111", "+44 7700 900111", "07700 900222", "07700900111", "020 7946 0999")
QUERIES = (
    "ann",
    "EXAMPLE ann",
    "ann ex",
    "smith",
    "jones",
    "o'b",
    "brien",
    "d",
    "ann@",
    "ANN@EXAMPLE.COM",
    "cy@example.org",
    "0111",
    "900 111",
    "+44 7700 900111",
    "222",
    "0999",
    "erased",
    "nobody",
)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class ClientIndexMachine(RuleBasedStateMachine):
    """Subclassed per test with the backend and its event loop."""

    runner: ClassVar[asyncio.Runner]
    backend: ClassVar[Backend]
    namespaces: ClassVar[itertools.count[int]]
    steps: ClassVar[list[int]]

    def __init__(self) -> None:
        super().__init__()
        n = next(self.namespaces)

        def kv(namespace: str) -> KVStore:
            return KVStore(self.backend, f"{namespace}{n}")

        self.clock = Clock()
        self.store = kv("bookings")
        self.service = BookingService(self.store, self.run(furnish(kv)), clock=self.clock)
        self.records = ClientRecords(self.store, clock=self.clock)
        self.directory = ClientDirectory(self.store, leaf_size=3, clock=self.clock)
        self.clients = ClientService(
            self.records,
            kv("clients"),
            ReviewService(kv("reviews")),
            kv("reviews"),
            clock=self.clock,
        )
        self.bookings: dict[str, Booking] = {}
        """The reference model: every booking made, as its last change left it."""
        self.notes: dict[str, tuple[str, str, bool]] = {}
        """Every note written: its client key, text and whether it is an alert."""

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def pick(self, index: int) -> Booking | None:
        every = list(self.bookings)  # in the order made: ids are random, replays must agree
        return self.bookings[every[index % len(every)]] if every else None

    def reference(self) -> list[Any]:
        """The old derivation, from every booking, oldest made first (ties: by id, as the
        index breaks them)."""
        return group(sorted(self.bookings.values(), key=lambda b: (b.created_at, b.id)))

    # -- bookings ----------------------------------------------------------------------------

    @rule(
        name=st.sampled_from(NAMES),
        email=st.sampled_from(EMAILS),
        phone=st.sampled_from(PHONES),
        treatment=st.sampled_from([MASSAGE.id, FACIAL.id]),
        offset=st.integers(1, 20),
        quarter=st.integers(36, 64),
    )
    def book(
        self, name: str, email: str, phone: str, treatment: str, offset: int, quarter: int
    ) -> None:
        day = self.clock.now.astimezone(LONDON).date() + timedelta(days=offset)
        while day.weekday() >= 5:  # the salon's weekend
            day += timedelta(days=1)
        start = local_day_bounds(day, LONDON)[0] + timedelta(minutes=15 * quarter)
        by = Actor.STAFF if not email else Actor.CLIENT
        request = BookRequest(treatment, start, ClientDetails(name, email, phone), by=by)
        try:
            booked = self.run(self.service.book(request))
        except (SlotTaken, InvalidInput, Conflict):
            return  # taken, or not offered (outside hours)
        self.bookings[booked.booking.id] = booked.booking

    @precondition(lambda self: self.bookings)
    @rule(
        index=st.integers(0, 200),
        name=st.sampled_from(NAMES),
        phone_only=st.booleans(),
        offset=st.integers(1, 20),
        quarter=st.integers(36, 64),
    )
    def book_again(
        self, index: int, name: str, phone_only: bool, offset: int, quarter: int
    ) -> None:
        """A client of an earlier booking comes back, perhaps spelling their name otherwise,
        perhaps booked by phone by staff with no e-mail address."""
        earlier = self.pick(index)
        assert earlier is not None
        email = "" if phone_only else earlier.email
        self.book(name, email, earlier.phone or PHONES[0], MASSAGE.id, offset, quarter)

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 200), by_client=st.booleans())
    def cancel(self, index: int, by_client: bool) -> None:
        booking = self.pick(index)
        assert booking is not None
        try:
            changed = self.run(self.service.cancel(booking, by_client=by_client))
        except Conflict:
            return
        self.bookings[booking.id] = changed.booking

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 200), offset=st.integers(1, 20), slot=st.integers(0, 200))
    def move(self, index: int, offset: int, slot: int) -> None:
        booking = self.pick(index)
        assert booking is not None
        day = self.clock.now.astimezone(LONDON).date() + timedelta(days=offset)
        _, slots = self.run(
            self.service.availability(booking.treatment_id, day, ignoring=booking, staff=True)
        )
        if not slots:
            return
        try:
            moved = self.run(
                self.service.reschedule(booking, slots[slot % len(slots)].start, by_client=False)
            )
        except (Conflict, SlotTaken):
            return
        self.bookings[booking.id] = moved.booking

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 200), status=st.sampled_from(Status))
    def set_status(self, index: int, status: Status) -> None:
        booking = self.pick(index)
        assert booking is not None
        try:
            changed = self.run(self.service.set_status(booking, status))
        except (Conflict, SlotTaken):
            return
        self.bookings[booking.id] = changed.booking

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 200))
    def new_link(self, index: int) -> None:
        booking = self.pick(index)
        assert booking is not None
        changed, _ = self.run(self.records.new_link(booking.id))
        self.bookings[booking.id] = changed

    @precondition(lambda self: len(self.bookings) >= 6)
    @rule(index=st.integers(0, 200))
    def erase_a_client(self, index: int) -> None:
        """What ClientService.erase does, whatever is to come: every booking of one client."""
        clients = self.reference()
        if not clients:
            return
        for booking in clients[index % len(clients)].bookings:
            self.bookings[booking.id] = self.run(self.records.erase_client(booking.id))

    # -- clients as people (issue 24) ---------------------------------------------------------

    def history(self, client_id_: str) -> Any:
        return self.run(self.clients.get(client_id_))

    def refresh(self, bookings: list[Booking], details: ClientDetails) -> None:
        """The reference takes each booking as stored, which must carry ``details``."""
        for booking in self.run(self.records.bookings([b.id for b in bookings])):
            assert (booking.client_name, booking.email, booking.phone) == (
                details.name,
                details.email,
                details.phone,
            )
            self.bookings[booking.id] = booking

    def follow(self, old_keys: list[str], new_key: str) -> None:
        for note_id, (key, text, alert) in list(self.notes.items()):
            if key in old_keys:
                self.notes[note_id] = (new_key, text, alert)

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 200), alert=st.booleans())
    def note(self, index: int, alert: bool) -> None:
        clients = self.reference()
        if not clients:
            return
        client = clients[index % len(clients)]
        text = f"{'Alert' if alert else 'Note'} {len(self.notes)}"
        note = self.run(self.clients.add_note(self.history(client.id), text, "staff", alert=alert))
        self.notes[note.id] = (client.keys[0], text, alert)

    @precondition(lambda self: self.bookings)
    @rule(
        index=st.integers(0, 200),
        name=st.sampled_from(NAMES),
        email=st.sampled_from(EMAILS),
        phone=st.sampled_from(PHONES),
    )
    def edit_a_client(self, index: int, name: str, email: str, phone: str) -> None:
        clients = self.reference()
        if not clients:
            return
        client = clients[index % len(clients)]
        details = ClientDetails(name, email, phone)
        key = client_key(email, phone, name)
        taken = any(c.keys[0] == key for c in clients if c.id != client.id)
        try:
            changed = self.run(self.clients.edit(self.history(client.id), details))
        except Conflict:
            assert taken, "an edit was refused though its details name nobody else"
            return
        assert not taken, "an edit was allowed onto another client's key"
        assert changed == client_id(key)
        self.refresh(client.bookings, details)
        self.follow(client.keys, key)

    @precondition(lambda self: len(self.bookings) >= 2)
    @rule(first=st.integers(0, 200), second=st.integers(0, 200))
    def merge_two_clients(self, first: int, second: int) -> None:
        clients = self.reference()
        if len(clients) < 2:  # every client erased but one
            return
        kept, other = clients[first % len(clients)], clients[second % len(clients)]
        if kept.id == other.id:
            return
        merged = self.run(self.clients.merge(self.history(kept.id), self.history(other.id)))
        details = ClientDetails(kept.name, kept.email or other.email, kept.phone or other.phone)
        key = client_key(details.email, details.phone, details.name)
        assert merged == client_id(key)
        self.refresh([*kept.bookings, *other.bookings], details)
        self.follow([*kept.keys, *other.keys], key)
        (after,) = [c for c in self.reference() if c.id == merged]
        assert {b.id for b in after.bookings} >= {b.id for b in (*kept.bookings, *other.bookings)}

    @rule()
    def left_by_the_rule_before_issue_24(self) -> None:
        """The index as version 1 left it: each phone-only booking under its number alone, and
        the e-mail keys that gave each number as its owners; the next read builds again and
        takes apart what that rule joined."""
        merge: dict[str, dict[str, Any]] = {}
        for booking in self.bookings.values():
            if booking.email or not phone_key(booking.phone).strip("+"):
                continue
            old = client_id(f"tel:{phone_key(booking.phone)}")
            merge.setdefault(client_summaries_key(old), {})[booking.id] = summary(booking)
            new = client_key_of(booking)
            merge.setdefault(client_summaries_key(client_id(new)), {})[booking.id] = DELETE
        for booking in self.bookings.values():
            if booking.email:
                owner = client_id(client_key_of(booking))
                phone = client_id(f"tel:{phone_key(booking.phone)}")
                merge.setdefault(client_owners_key(phone), {})[owner] = ""
        marker = {"version": 1, "at": self.clock.now.isoformat(), "settled": True}
        self.run(self.store.transact({CLIENT_INDEX_BUILT: marker}, merge=merge))

    @rule(hours=st.sampled_from([1, 5, 24, 72, 240]))
    def time_passes(self, hours: int) -> None:
        self.clock.now += timedelta(hours=hours)

    # -- the index itself --------------------------------------------------------------------

    @rule()
    def forget_the_index(self) -> None:
        """As on a deployment from before the index: the next read builds it."""
        keys = [
            key for key, _ in self.run(self.store.get_all_items()).items() if is_client_index(key)
        ]
        self.run(self.store.transact(dict.fromkeys(keys, DELETE)))

    @rule()
    def built_by_an_older_rule(self) -> None:
        self.run(self.store.set_item(CLIENT_INDEX_BUILT, {"version": 0}))

    @rule(query=st.sampled_from(QUERIES))
    def search(self, query: str) -> None:
        found = self.read_all(query)
        ids = [row.id for row in found]
        assert len(ids) == len(set(ids)), f"a client listed twice for {query!r}"
        expected = {c.id: c.row for c in self.reference() if c.matches(query)}
        assert {row.id: row for row in found} == expected, query

    def read_all(self, query: str = "") -> list[Row]:
        rows: list[Row] = []
        after = ""
        for _ in range(200):
            page = self.run(self.directory.page(query, after, size=2))
            rows += page.clients
            if not page.next:
                return rows
            after = page.next
        raise AssertionError("the pages never ended")

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def the_list_is_the_derivation(self) -> None:
        self.steps[0] += 1
        expected = [client.row for client in self.reference()]
        assert self.read_all() == expected

    @invariant()
    def notes_and_alerts_are_with_their_client(self) -> None:
        alerts = self.run(self.clients.alerts())
        for client in self.reference():
            shown = self.run(self.clients.notes(client))
            expected = {i: t for i, (key, t, _) in self.notes.items() if key in client.keys}
            assert {n.id: n.text for n in shown} == expected, client.name
            wanted = sorted(
                t for key, t, alert in self.notes.values() if alert and key in client.keys
            )
            for booking in client.bookings:
                assert sorted(alerts.of(booking)) == wanted, client.name

    @invariant()
    def each_client_opens_with_its_keys_and_bookings(self) -> None:
        clients = self.reference()
        for client in clients:
            shown = self.run(self.directory.client(client.id))
            assert shown is not None, client
            assert sorted(shown.keys) == sorted(client.keys)
            assert sorted(v.id for v in shown.visits) == sorted(b.id for b in client.bookings)
        listed = {client.id for client in clients}
        for booking in self.bookings.values():  # a phone key shown under another opens nothing
            key = client_key_of(booking)
            if key and client_id(key) not in listed:
                assert self.run(self.directory.client(client_id(key))) is None


MODEL_BACKENDS = params(["memory", "sqlite", "redis"])


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("kind", MODEL_BACKENDS)
def test_every_sequence_of_changes_keeps_the_index_equal_to_the_derivation(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    deep = request.config.getoption("hypothesis_profile", None) == "deep"
    steps = [0]
    with asyncio.Runner() as runner:
        backend = make_backend(kind, tmp_path, request)
        runner.run(backend.open())
        try:
            machine = type(
                "Machine",
                (ClientIndexMachine,),
                {
                    "runner": runner,
                    "backend": backend,
                    "namespaces": itertools.count(),
                    "steps": steps,
                },
            )
            run_state_machine_as_test(machine, settings=None if deep else NORMAL)
        finally:
            runner.run(backend.close())
    print(f"client index model on {kind}: {steps[0]} steps")
