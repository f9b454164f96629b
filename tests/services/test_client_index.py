"""The client index (issue 21, item 6): its sorted index, what a booking writes for it, a change
that lands while the index is brought up to date or built, and the same answers on every backend.

The state machine (test_client_index_model.py) checks any sequence of changes against the old
derivation; these check what a sequential run cannot reach: another writer between a read and
its write, concurrent bookings and readers, and what each step costs in keys.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from parlour.domain.booking import Status
from parlour.services.bookings.client_index import summary
from parlour.services.bookings.client_keys import client_id, client_key
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.keys import (
    CLIENT_INDEX_BUILT,
    CLIENT_SORTED,
    booking_key,
    client_pending_key,
    client_summaries_key,
    is_client_index,
)
from parlour.services.clients.directory import ClientDirectory, Row
from parlour.services.clients.listing import SETTLE
from parlour.services.clients.records import ClientRecords
from parlour.services.clients.service import ClientHistory, group
from parlour.services.sorted_index import SortedIndex
from parlour.services.transfer import compare, copy
from parlour.storage import Backend, KVStore
from parlour.storage.base import DELETE, Operation
from parlour.storage.memory import MemoryBackend
from parlour.storage.sqlite import SQLiteBackend

from support.salon import DAY, FACIAL, MASSAGE, NOW, ask, at, client, furnish


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Interleaving(MemoryBackend):
    """A memory backend that, once, runs ``meanwhile`` just before the first ``transact`` that
    touches a key starting with ``prefix``: another writer's change landing between a reader's
    read and its write. Every write is real; nothing is faked."""

    def __init__(self) -> None:
        super().__init__()
        self.prefix = ""
        self.meanwhile: Callable[[], Awaitable[object]] | None = None
        self.transacts: list[list[Operation]] = []

    async def transact(self, namespace: str, operations: Sequence[Operation]) -> bool:
        self.transacts.append(list(operations))
        if self.meanwhile is not None and any(o.key.startswith(self.prefix) for o in operations):
            meanwhile, self.meanwhile = self.meanwhile, None
            await meanwhile()
        return await super().transact(namespace, operations)


def rows(clients: Sequence[ClientHistory]) -> list[Row]:
    return [client.row for client in clients]


async def everyone(directory: ClientDirectory, query: str = "", size: int = 2) -> list[Row]:
    found, after = [], ""
    while True:
        page = await directory.page(query, after, size=size)
        found += page.clients
        if not page.next:
            return found
        after = page.next


async def reference(store: KVStore) -> list[ClientHistory]:
    every = await ClientRecords(store).every_booking()
    return group(sorted(every, key=lambda b: (b.created_at, b.id)))


# -- the sorted index ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.booleans(), st.lists(st.text("abcé\x1f", max_size=4), max_size=12)),
        max_size=12,
    ),
    starts=st.lists(st.text("abcé", max_size=3), max_size=4),
)
def test_the_sorted_index_reads_in_order_from_anywhere_through_splits(
    steps: list[tuple[bool, list[str]]], starts: list[str]
) -> None:
    async def check() -> None:
        backend = MemoryBackend()
        store = KVStore(backend, "bookings")
        index = SortedIndex(store, CLIENT_SORTED, leaf_size=3)
        model: set[str] = set()
        for adding, strings in steps:
            chosen = set(strings) - model if adding else set(strings) & model
            plan = await index.plan(chosen if adding else (), () if adding else chosen)
            assert await store.transact(plan.writes, expect=plan.expect)
            model = model | chosen if adding else model - chosen
        for start in ["", *starts]:
            read = [s async for s in index.strings_from(start)]
            assert read == sorted(s for s in model if s >= start)
            past = [s async for s in index.strings_from(start, after=True)]
            assert past == sorted(s for s in model if s > start)

    asyncio.run(check())


async def test_two_writers_of_one_leaf_cannot_both_commit() -> None:
    store = KVStore(MemoryBackend(), "bookings")
    index = SortedIndex(store, CLIENT_SORTED, leaf_size=3)
    seed = await index.plan(["a", "m", "z"], ())
    assert await store.transact(seed.writes, expect=seed.expect)
    one, two = await index.plan(["b"], ()), await index.plan(["c"], ())
    assert await store.transact(one.writes, expect=one.expect)
    assert not await store.transact(two.writes, expect=two.expect)  # "b" would be lost
    again = await index.plan(["c"], ())  # read again: a split, so the root is expected too
    assert await store.transact(again.writes, expect=again.expect)
    assert [s async for s in index.strings_from("")] == ["a", "b", "c", "m", "z"]


# -- what a booking writes -------------------------------------------------------------------------


async def test_a_booking_adds_two_small_keys_a_status_change_one_and_a_new_link_none() -> None:
    backend = Interleaving()

    def kv(namespace: str) -> KVStore:
        return KVStore(backend, namespace)

    clock = Clock()
    service = BookingService(kv("bookings"), await furnish(kv), clock=clock)

    def index_keys() -> list[str]:
        return sorted(o.key for o in backend.transacts.pop() if is_client_index(o.key))

    booked = await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client(1)}))
    merged_only = all(o.expect is None for o in backend.transacts[-1] if is_client_index(o.key))
    key = client_id(client_key("client1@example.com", ""))
    shard = client_pending_key(int(key[:4], 16) % 256)
    # its summary, and its key to bring up to date
    assert index_keys() == [client_summaries_key(key), shard]
    assert merged_only  # nothing read first, nothing expected: it never makes a booking contend
    await service.cancel(booked.booking, by_client=False)
    assert index_keys() == [client_summaries_key(key)]  # the figures changed, the listing did not
    await ClientRecords(kv("bookings"), clock=clock).new_link(booked.booking.id)
    assert index_keys() == []


# -- another writer between a read and its write ---------------------------------------------------


async def test_a_booking_made_while_a_listing_is_worked_out_is_not_lost() -> None:
    backend = Interleaving()

    def kv(namespace: str) -> KVStore:
        return KVStore(backend, namespace)

    clock = Clock()
    service = BookingService(kv("bookings"), await furnish(kv), clock=clock)
    directory = ClientDirectory(kv("bookings"))
    await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client(1, name="Zoe")}))
    await service.book(ask({"treatment": FACIAL.id, "start": at(10), **client(2, name="Bea")}))
    assert [r.name for r in await everyone(directory)] == ["Bea", "Zoe"]
    clock.now += timedelta(minutes=5)
    await service.book(ask({"treatment": MASSAGE.id, "start": at(11), **client(1, name="Zed")}))

    async def renamed_again() -> None:  # after the listing was read, before it is written
        clock.now += timedelta(minutes=5)
        later = {**client(1, name="Ann Example")}
        await service.book(ask({"treatment": MASSAGE.id, "start": at(12), **later}))

    backend.prefix, backend.meanwhile = "c:l:", renamed_again
    listed = await everyone(directory)
    assert backend.meanwhile is None  # it ran
    assert [r.name for r in listed] == ["Ann Example", "Bea"]
    assert listed == rows(await reference(kv("bookings")))
    assert [r.name for r in await everyone(directory, "example")] == ["Ann Example"]


async def test_a_booking_erased_while_the_index_is_built_stays_erased() -> None:
    backend = Interleaving()

    def kv(namespace: str) -> KVStore:
        return KVStore(backend, namespace)

    clock = Clock()
    service = BookingService(kv("bookings"), await furnish(kv), clock=clock)
    records = ClientRecords(kv("bookings"), clock=clock)
    ann = await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client(1)}))
    await service.book(ask({"treatment": FACIAL.id, "start": at(12), **client(2)}))
    await forget_the_index(kv("bookings"))  # as a deployment from before the index

    async def erase() -> None:  # after the build read the record, before it writes
        await records.erase_client(ann.booking.id)

    backend.prefix, backend.meanwhile = "c:k:", erase
    listed = await everyone(ClientDirectory(kv("bookings")))
    assert backend.meanwhile is None
    assert [r.name for r in listed] == ["Client 2"]
    assert listed == rows(await reference(kv("bookings")))


async def forget_the_index(store: KVStore) -> None:
    keys = [k for k in await store.get_all_items() if is_client_index(k)]
    await store.transact(dict.fromkeys(keys, DELETE))


async def test_building_again_sets_right_an_index_out_of_step_with_its_bookings() -> None:
    """A summary under a key its booking no longer has (an older version's change after the
    build) and a listing's entries missing from the sorted index (a backup taken while a change
    was written) are set right by building again."""
    store = KVStore(MemoryBackend(), "bookings")
    clock = Clock()
    service = BookingService(store, await furnish(lambda ns: KVStore(store.backend, ns)),
                             clock=clock)  # fmt: skip
    booked = await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client(1)}))
    directory = ClientDirectory(store)
    assert len(await everyone(directory)) == 1
    stray = client_id(client_key("someone@example.com", ""))
    await store.transact(
        {}, merge={client_summaries_key(stray): {booked.booking.id: summary(booked.booking)}}
    )
    sorted_index = directory.listing.sorted
    names = [s async for s in sorted_index.strings_from("n") if s.startswith("n")]
    torn = await sorted_index.plan((), names)
    await store.transact(torn.writes, expect=torn.expect)  # as in a backup taken mid-change
    assert await everyone(directory) == []
    await store.set_item(CLIENT_INDEX_BUILT, {"version": 0})  # built by an older rule: build again
    assert await everyone(directory) == rows(await reference(store))
    assert await store.get_item(client_summaries_key(stray)) is None


async def test_what_an_older_version_changes_during_a_rolling_upgrade_is_taken_in_later() -> None:
    store = KVStore(MemoryBackend(), "bookings")
    clock = Clock()
    service = BookingService(store, await furnish(lambda ns: KVStore(store.backend, ns)),
                             clock=clock)  # fmt: skip
    await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client(1)}))
    two = await service.book(ask({"treatment": MASSAGE.id, "start": at(11), **client(2)}))
    directory = ClientDirectory(store, clock=clock)
    assert len(await everyone(directory)) == 2  # the first build
    # An instance still on the older version erases client 2: the record alone changes.
    erased = {"client_name": "Erased client", "email": "", "phone": "", "token_hash": ""}
    record = await store.get_item(booking_key(two.booking.id))
    assert isinstance(record, dict)
    await store.set_item(booking_key(two.booking.id), {**record, **erased})
    clock.now += SETTLE - timedelta(seconds=1)
    assert len(await everyone(directory)) == 2  # not yet: the upgrade may still be rolling
    clock.now += timedelta(seconds=1)
    assert await everyone(directory) == rows(await reference(store))
    assert [r.name for r in await everyone(directory)] == ["Client 1"]
    marker = await store.get_item(CLIENT_INDEX_BUILT)
    assert isinstance(marker, dict)
    assert marker["settled"]
    clock.now += 10 * SETTLE  # settled: no more builds
    await store.set_item(booking_key(two.booking.id), record)
    assert [r.name for r in await everyone(directory)] == ["Client 1"]
    assert await store.get_item(CLIENT_INDEX_BUILT) == marker


# -- every backend ---------------------------------------------------------------------------------


async def test_the_index_answers_the_same_on_every_backend(data_backend: Backend) -> None:
    def kv(namespace: str) -> KVStore:
        return KVStore(data_backend, namespace)

    clock = Clock()
    store = kv("bookings")
    service = BookingService(store, await furnish(kv), clock=clock)
    made = []
    people = [
        client(1, name="Ann Example", email="Ann@Example.com", phone="07700 900111"),
        client(2, name="Bea Smith-Jones", phone="07700 900222"),
        client(3, name="Ann Other", email="", phone="07700 900111"),  # Ann's phone: apart
        client(4, name="Cy", email="", phone="020 7946 0999"),  # a phone client of their own
        client(5, name="Dee", phone="07700 900222"),  # Bea's phone too: neither is joined
        client(6, name="Eve", email="", phone="07700 900222"),
    ]
    for n, person in enumerate(people * 2):
        clock.now += timedelta(minutes=1)
        day = DAY + timedelta(days=7 * (n // 6))
        fields = {"treatment": MASSAGE.id, "start": at(9 + n % 6, day=day), **person}
        made.append((await service.book(ask(fields, staff=not person["email"]))).booking)
    await service.cancel(made[1], by_client=False)
    await ClientRecords(store, clock=clock).erase_client(made[3].id)
    directory = ClientDirectory(store, leaf_size=4)
    expected = await reference(store)
    assert len(expected) == 6  # Ann, Bea, Ann Other, Cy, Dee, Eve: a phone joins nobody
    assert await everyone(directory) == rows(expected)
    for query in ("ann", "smith ann", "jones", "ann@ex", "0111", "900 222", "0999", "nobody"):
        assert {r.id for r in await everyone(directory, query)} == {
            c.id for c in expected if c.matches(query)
        }, query
    ann = await directory.client(client_id(client_key("ann@example.com", "")))
    assert ann is not None
    assert ann.keys == ("email:ann@example.com",)
    assert len(ann.visits) == 2
    await forget_the_index(store)
    assert await everyone(ClientDirectory(store)) == rows(expected)


async def test_concurrent_bookings_and_readers_leave_the_index_right(data_backend: Backend) -> None:
    def kv(namespace: str) -> KVStore:
        return KVStore(data_backend, namespace)

    clock = Clock()
    store = kv("bookings")
    service = BookingService(store, await furnish(kv), clock=clock)
    directory = ClientDirectory(store, leaf_size=4)
    chooser = random.Random(21)
    times = [(h, m) for h in range(9, 16) for m in (0, 30)]

    async def book(n: int) -> None:
        hour, minute = times[n % len(times)]
        person = client(chooser.randrange(6), name=chooser.choice(["Ann", "Ann B", "Bo"]))
        day = DAY + timedelta(days=7 * (n // len(times)))
        fields = {"treatment": MASSAGE.id, "start": at(hour, minute, day=day), **person}
        booked = await service.book(ask(fields))
        if n % 3 == 0:
            await service.set_status(booked.booking, Status.CANCELLED)

    async def read() -> None:
        for _ in range(6):
            await everyone(directory, size=3)

    await asyncio.gather(*(book(n) for n in range(24)), read(), read())
    assert await everyone(directory) == rows(await reference(store))


async def test_a_copy_brings_the_index_along_and_one_from_before_it_is_built(
    tmp_path: Path,
) -> None:
    """What ``parlour migrate``, ``export`` and ``import`` do: the index is data like any other,
    and a copy of a store from before it builds it on its first read."""
    source = MemoryBackend()
    store = KVStore(source, "bookings")
    service = BookingService(store, await furnish(lambda ns: KVStore(source, ns)), clock=Clock())
    for n in range(6):
        fields = {"treatment": MASSAGE.id, "start": at(9 + n), **client(n % 4)}
        await service.book(ask(fields))
    expected = rows(await reference(store))
    assert await everyone(ClientDirectory(store)) == expected  # built and up to date
    for name, index_kept in (("with-index", True), ("from-before", False)):
        if not index_kept:
            await forget_the_index(store)
        target = SQLiteBackend(tmp_path / f"{name}.db")
        await target.open()
        try:
            await copy({"bookings": source}, {"bookings": target})
            assert all(
                c.same for c in (await compare({"bookings": source}, {"bookings": target})).values()
            )
            copied = KVStore(target, "bookings")
            assert (await copied.get_item(CLIENT_INDEX_BUILT) is not None) is index_kept
            assert await everyone(ClientDirectory(copied)) == expected
        finally:
            await target.close()
