"""What the SQLite backend promises beyond the contract."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from parlour.storage import ChangeKind, KVStore
from parlour.storage.sqlite import SQLiteBackend


async def test_file_is_in_wal_mode_and_expired_rows_are_reclaimed(tmp_path: Path) -> None:
    now = [1000.0]
    backend = SQLiteBackend(tmp_path / "parlour.db", clock=lambda: now[0])
    await backend.open()
    try:
        kv = KVStore(backend, "sessions")
        for n in range(10):
            await kv.set_item(f"s{n}", n, ttl=5)
        now[0] += 6
        assert await kv.get_all_items() == {}
        await kv.set_item("later", 1)
        with sqlite3.connect(backend.path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert raw.execute("SELECT count(*) FROM kv").fetchone() == (1,)
        raw.close()
    finally:
        await backend.close()


async def test_a_gap_in_the_change_log_reaches_subscribers_as_resync(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "parlour.db")
    await backend.open()
    try:
        async with KVStore(backend, "bookings").subscribe() as events:
            # Another process's rows were pruned before we read them: simulate it in one commit.
            with sqlite3.connect(backend.path) as raw:
                for key in ("lost", "kept"):
                    raw.execute(
                        "INSERT INTO changes (namespace, key, kind, at)"
                        " VALUES ('bookings', ?, 'set', 0)",
                        (key,),
                    )
                raw.execute("DELETE FROM changes WHERE key = 'lost'")
            raw.close()
            first, second = await events.next(timeout=5), await events.next(timeout=5)
    finally:
        await backend.close()
    assert first is not None
    assert second is not None
    assert first.kind is ChangeKind.RESYNC
    assert (second.key, second.kind) == ("kept", ChangeKind.SET)


async def test_subscribers_that_start_together_share_one_poller(tmp_path: Path) -> None:
    """Eight caches subscribing at start-up made eight pollers, each publishing every change
    to every subscriber: seven copies of each event (found profiling bookings)."""
    backend = SQLiteBackend(tmp_path / "parlour.db")
    await backend.open()
    try:
        async with contextlib.AsyncExitStack() as stack:
            subscriptions = [KVStore(backend, "bookings").subscribe() for _ in range(8)]
            streams = await asyncio.gather(*map(stack.enter_async_context, subscriptions))
            pollers = [t for t in asyncio.all_tasks() if t.get_name() == "parlour-sqlite-changes"]
            assert len(pollers) == 1
            kv = KVStore(backend, "bookings")
            await kv.set_item("once", 1)
            await kv.set_item("after", 2)
            for stream in streams:
                seen = []
                async for event in stream:
                    seen.append(event.key)
                    if event.key == "after":
                        break
                assert seen == ["once", "after"]
    finally:
        await backend.close()
