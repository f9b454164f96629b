"""What dual-write promises beyond the contract (which it passes too, as ``dual-*`` backends):
deletes are tombstones in the new backend, so nothing deleted comes back from the old one, and
no read, scan, TTL or merge ever shows a tombstone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parlour.storage import KVStore
from parlour.storage.base import ABSENT, DELETE
from parlour.storage.dual import TOMBSTONE, DualBackend
from parlour.storage.memory import MemoryBackend
from parlour.storage.redis import RedisBackend
from parlour.storage.sqlite import SQLiteBackend

from support.redis_server import RedisServer

UNITS = ["u:r_ann:2026-12-02T10:00", "u:r_ann:2026-12-02T10:05", "u:r_ann:2026-12-02T10:10"]


@pytest.fixture
async def dual(tmp_path: Path) -> AsyncIterator[DualBackend]:
    backend = DualBackend(SQLiteBackend(tmp_path / "new.db"), MemoryBackend())
    await backend.open()
    yield backend
    await backend.close()


async def claim(kv: KVStore, booking: str) -> bool:
    """A booking as the engine makes one: every unit it occupies claimed, all or none."""
    return await kv.transact(
        {**dict.fromkeys(UNITS, booking), booking: {"status": "confirmed"}},
        expect=dict.fromkeys(UNITS, ABSENT),
    )


async def cancel(kv: KVStore, booking: str) -> bool:
    return await kv.transact(
        {**dict.fromkeys(UNITS, DELETE), booking: {"status": "cancelled"}},
        expect={booking: {"status": "confirmed"}},
    )


@pytest.mark.redis
async def test_a_claim_freed_while_the_old_store_refuses_writes_never_comes_back(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    """Mid-migration from Redis to SQLite, Redis goes read-only (a replica of nothing: it
    answers reads, refuses writes). A cancellation frees the units in SQLite but not in Redis;
    the next read must not copy Redis's stale claims back, or that time is lost for good."""
    dual = DualBackend(SQLiteBackend(tmp_path / "new.db"), RedisBackend(private_redis.url))
    await dual.open()
    try:
        kv = KVStore(dual, "bookings")
        assert await claim(kv, "b1")
        with private_redis.client() as client:
            client.replicaof("127.0.0.1", "1")
        assert await cancel(kv, "b1")
        assert dual.old_write_failures == len(UNITS) + 1
        assert await kv.get_many(UNITS) == {}
        for unit in UNITS:
            assert await kv.get_item(unit) is None
        assert await claim(kv, "b2")  # the time can be booked again
        assert await kv.get_many(UNITS) == dict.fromkeys(UNITS, "b2")
    finally:
        with private_redis.client() as client:
            client.replicaof("no", "one")
        await dual.close()


async def test_no_read_scan_ttl_or_merge_shows_a_tombstone(dual: DualBackend) -> None:
    kv = KVStore(dual, "bookings")
    await kv.set_item("kept", 1)
    await kv.set_item("gone", 2, ttl=60)
    await kv.transact({}, merge={"day": {"b1": "10:00"}})
    assert await kv.remove_item("gone") is True
    assert await kv.transact({"day": DELETE})
    assert await dual.new.get("bookings", "gone") == TOMBSTONE  # it is there, underneath
    assert await dual.new.get("bookings", "day") == TOMBSTONE

    assert await kv.get_item("gone", "nothing") == "nothing"
    assert await kv.get_many(["kept", "gone", "day"]) == {"kept": 1}
    assert await kv.get_all_items() == {"kept": 1}
    assert [key async for key, _ in kv.items(batch_size=1)] == ["kept"]
    assert set(await dual.ttls("bookings", ["kept", "gone", "day"])) == {"kept"}
    entries = [entry async for batch in dual.entries("bookings") for entry in batch]
    assert entries == [("kept", "1", None)]
    assert await kv.get_and_touch("gone", 10) is None
    assert await kv.touch("gone", 10) is False
    assert await kv.replace_item("gone", 3) is False
    assert await kv.update("gone", lambda value: [value]) == [None]  # started from nothing
    # A merge into a deleted key starts from an empty object, never from the tombstone.
    assert await kv.transact({}, merge={"day": {"b2": "11:00"}})
    assert await kv.get_item("day") == {"b2": "11:00"}


async def test_merges_into_a_deleted_key_never_conflict(dual: DualBackend) -> None:
    """Independent bookings adding themselves to a day whose index was deleted: each saw the
    tombstone before its step, and all but the first found it gone; all must succeed."""
    kv = KVStore(dual, "bookings")
    await kv.transact({}, merge={"day": {"old": "x"}})
    await kv.remove_item("day")

    async def book(n: int) -> bool:
        return await kv.transact(
            {f"u{n}": f"b{n}"}, expect={f"u{n}": ABSENT}, merge={"day": {f"b{n}": f"u{n}"}}
        )

    assert all(await asyncio.gather(*(book(n) for n in range(20))))
    assert await kv.get_item("day") == {f"b{n}": f"u{n}" for n in range(20)}


async def test_a_claim_of_a_free_unit_succeeds_while_deletes_rewrite_its_tombstone(
    dual: DualBackend,
) -> None:
    """A unit nobody holds, claimed while other requests delete it (a repeated cancellation):
    it is free all along, so the claim must succeed, whichever tombstone it found before its
    atomic step and whichever it meets there."""
    kv = KVStore(dual, "bookings")
    for round_ in range(20):
        unit = f"unit{round_}"
        if round_ % 2:
            await kv.set_item(unit, "an old booking")
            await kv.remove_item(unit)
        claimed, *_ = await asyncio.gather(
            kv.transact({unit: "mine"}, expect={unit: ABSENT}),
            *(kv.remove_item(unit) for _ in range(5)),
        )
        assert claimed, unit


async def test_a_merge_succeeds_while_deletes_turn_its_key_into_a_tombstone(
    dual: DualBackend,
) -> None:
    """A message merged into an outbox shard while the tidy deletes it (CI found it raising
    CorruptValue on PostgreSQL): the merge read "no tombstone" before its atomic step and met
    one there. It must start from nothing, as a merge into a deleted key does."""
    kv = KVStore(dual, "outbox")
    for round_ in range(20):
        shard = f"shard{round_}"
        await kv.transact({}, merge={shard: {"old": "sent"}})
        merged, *_ = await asyncio.gather(
            kv.transact({}, merge={shard: {"late": "due"}}),
            *(kv.remove_item(shard) for _ in range(3)),
        )
        assert merged, shard
        assert await kv.get_item(shard, {}) in ({}, {"late": "due"}), shard


async def test_a_delete_announces_a_removal_once(dual: DualBackend) -> None:
    kv = KVStore(dual, "bookings")
    async with kv.subscribe() as events:
        await kv.set_item("a", 1)
        await kv.set_item("b", 1)
        await kv.transact({"a": DELETE, "never-there": DELETE})
        await kv.transact({"a": DELETE})  # a tombstone over a tombstone: nothing removed
        await kv.remove_item("b")
        await kv.remove_item("b")
        seen: list[tuple[str, str]] = []
        while len(seen) < 4:
            event = await events.next(timeout=5)
            assert event is not None, seen
            seen.append((event.key, event.kind.value))
        assert await events.next(timeout=0.2) is None
    assert seen == [("a", "set"), ("b", "set"), ("a", "removed"), ("b", "removed")]


async def test_an_item_slid_by_a_read_expires_from_both_stores(tmp_path: Path) -> None:
    """Found by the model test: get_and_touch slid the new store's TTL only, so an item read
    with a shorter TTL than it was written with came back from the old store once the new
    copy expired."""
    clock = Clock()
    dual = DualBackend(SQLiteBackend(tmp_path / "new.db", clock=clock), MemoryBackend(clock))
    await dual.open()
    try:
        kv = KVStore(dual, "sessions")
        await kv.set_item("s", {"user": 1})
        assert await kv.get_and_touch("s", 60) == {"user": 1}
        clock.now += 61
        assert await kv.get_item("s", "expired") == "expired"
        assert await kv.get_all_items() == {}
    finally:
        await dual.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now
