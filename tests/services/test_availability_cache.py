"""Availability from each process's copy of the day lists, on two instances over one store:
an unchanged day is answered from memory, and every change on either instance is seen by both
(at once by the instance that made it; by the other once its change event arrives)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from parlour.errors import SlotTaken
from parlour.services.bookings.day_cache import DayCache, DayList
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.keys import booking_key, day_key
from parlour.services.cache import NamespaceCache
from parlour.services.catalogue import CatalogueService
from parlour.storage import KVStore
from services.test_booking_model import NORMAL, BookingMachine, run_model
from services.test_bookings import Clock

from support.backends import make_backend, params
from support.salon import DAY, FACIAL, ask, at, client, furnish
from support.waiting import eventually, until


@dataclass
class Instance:
    service: BookingService
    days: DayCache

    async def ann_free_at(self, start: str) -> bool:
        _, slots = await self.service.availability(FACIAL.id, DAY)
        return any(s.start.isoformat() == start and "r_ann" in s.resource_ids for s in slots)


@pytest.fixture(params=params(["sqlite", "redis"]))
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[Instance]]:
    backends = [make_backend(request.param, tmp_path, request) for _ in range(2)]
    instances = []
    for n, backend in enumerate(backends):
        await backend.open()

        def kv(namespace: str, backend: object = backend) -> KVStore:
            return KVStore(backend, namespace)  # type: ignore[arg-type]

        catalogue = await furnish(kv) if n == 0 else None
        days = DayCache(kv("bookings"))
        service = BookingService(
            kv("bookings"),
            catalogue or await furnish(kv),
            clock=Clock(),
            days=days,
        )
        days.start()
        instances.append(Instance(service, days))
    await until(lambda: all(i.days.live for i in instances), what="both feeds live")
    yield instances
    for instance, backend in zip(instances, backends, strict=True):
        await instance.days.stop()
        await backend.close()


async def test_an_unchanged_day_is_answered_from_memory(pair: list[Instance]) -> None:
    one, _ = pair
    await one.service.availability(FACIAL.id, DAY)
    hits = one.days.hits
    await one.service.availability(FACIAL.id, DAY)
    assert one.days.hits == hits + 6  # three days of two therapists, none read again


async def test_a_booking_is_seen_at_once_where_it_was_made(pair: list[Instance]) -> None:
    one, _ = pair
    assert await one.ann_free_at(at(10))
    await one.service.book(
        ask({"treatment": FACIAL.id, "start": at(10), **client(), "resource": "r_ann"})
    )
    assert not await one.ann_free_at(at(10))  # no waiting: this process wrote it


async def test_changes_on_one_instance_reach_the_others_copy(pair: list[Instance]) -> None:
    one, two = pair
    assert await one.ann_free_at(at(10))  # one keeps the day
    booked = await two.service.book(
        ask({"treatment": FACIAL.id, "start": at(10), **client(), "resource": "r_ann"})
    )

    async def taken() -> bool:
        return not await one.ann_free_at(at(10))

    await eventually(taken, what="a booking on two seen by one")
    moved = await two.service.reschedule(
        booked.booking, datetime.fromisoformat(at(14)), by_client=False
    )

    async def moved_there() -> bool:
        return await one.ann_free_at(at(10)) and not await one.ann_free_at(at(14))

    await eventually(moved_there, what="a move on two seen by one")
    await two.service.cancel(moved.booking, by_client=False)

    async def freed() -> bool:
        return await one.ann_free_at(at(14))

    await eventually(freed, what="a cancellation on two seen by one")


async def test_one_slot_wanted_on_both_instances_is_booked_once(pair: list[Instance]) -> None:
    for instance in pair:
        assert await instance.ann_free_at(at(11))  # both keep the day

    async def attempt(n: int) -> bool:
        fields = {"treatment": FACIAL.id, "start": at(11), **client(n), "resource": "r_ann"}
        try:
            await pair[n % 2].service.book(ask(fields))
        except SlotTaken:
            return False
        return True

    assert sum(await asyncio.gather(*(attempt(n) for n in range(20)))) == 1


async def test_a_reloaded_day_reuses_only_records_no_instance_changed(
    pair: list[Instance],
) -> None:
    one, two = pair
    first = await two.service.book(
        ask({"treatment": FACIAL.id, "start": at(10), **client(1), "resource": "r_ann"})
    )
    assert not await one.ann_free_at(at(10))  # one keeps Ann's day and its booking's record
    assert set(one.days.records([first.booking.id])) == {first.booking.id}
    await two.service.book(
        ask({"treatment": FACIAL.id, "start": at(14), **client(2), "resource": "r_ann"})
    )

    async def second_seen() -> bool:
        return not await one.ann_free_at(at(14))

    await eventually(second_seen, what="a second booking of Ann's day on two seen by one")
    # The list changed, not the first booking: its record was kept for the reload.
    assert set(one.days.records([first.booking.id])) == {first.booking.id}
    await two.service.cancel(first.booking, by_client=False)  # changes the record alone

    async def freed() -> bool:
        return await one.ann_free_at(at(10))

    await eventually(freed, what="a cancellation on two seen by one")
    assert not await one.ann_free_at(at(14))


async def test_a_record_changed_while_its_day_loads_is_not_kept(pair: list[Instance]) -> None:
    one, two = pair
    booked = await two.service.book(
        ask({"treatment": FACIAL.id, "start": at(10), **client(1), "resource": "r_ann"})
    )
    key = day_key(DAY, "r_ann")

    async def overtaken(keys: Sequence[str]) -> dict[str, DayList]:
        loaded = await one.service._reader.day_lists(keys)  # the real loader
        one.days.changed(booking_key(booked.booking.id))  # its event arrives while the load is out
        return loaded

    kept = await one.days.days([key], overtaken)
    assert [b.id for b in kept[key].bookings] == [booked.booking.id]  # answered, as read
    assert one.days.records([booked.booking.id]) == {}  # but not kept
    assert len(one.days) == 0  # nor is the list


class CachedBookingMachine(BookingMachine):
    """The engine's state machine with every cache of a running app on: the catalogue read
    through a started namespace cache (so its objects stay the same until changed, and the
    day's computed slots are reused) and availability through a started day cache."""

    def __init__(self) -> None:
        super().__init__()
        suffix = self.store.namespace.removeprefix("bookings")

        def kv(namespace: str) -> KVStore:
            return KVStore(self.backend, f"{namespace}{suffix}")

        names = ("business", "treatments", "resources")
        self.cache = NamespaceCache([kv(name) for name in names])
        self.catalogue = CatalogueService(*(kv(name) for name in names), cache=self.cache)
        self.days = DayCache(self.store)
        self.service = BookingService(self.store, self.catalogue, clock=self.clock, days=self.days)

        async def start() -> None:
            self.cache.start()
            self.days.start()
            await until(lambda: self.days.live, what="the bookings feed live")

        self.run(start())

    def teardown(self) -> None:
        self.run(self.days.stop())
        self.run(self.cache.stop())


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("kind", params(["memory", "sqlite", "redis"]))
def test_the_booking_model_holds_with_the_day_cache_on(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    deep = request.config.getoption("hypothesis_profile", None) == "deep"
    budget = None if deep else NORMAL
    steps, taken = run_model(CachedBookingMachine, kind, tmp_path, request, budget)
    print(f"booking model, caches on, on {kind}: {steps[0]} steps, {taken[0]} refusals checked")
    assert steps[0] > 0
