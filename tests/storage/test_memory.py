"""The memory backend reclaims what expired without ever doing unbounded work, and shares its
snapshot between processes without losing or leaking anything."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from parlour.storage import KVStore
from parlour.storage.memory import RECLAIM_PER_CALL, MemoryBackend

from support.processes import go, start_python_module


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_expired_items_are_reclaimed_a_bounded_few_per_write(clock: Clock) -> None:
    backend = MemoryBackend(clock=clock)
    kv = KVStore(backend, "sessions")
    for n in range(100):
        await kv.set_item(f"s{n}", n, ttl=10)
    clock.now += 11
    assert len(backend) == 100  # expired, not yet reclaimed: no call did that work yet
    assert await kv.get_item("s0") is None  # invisible at once (and dropped when met)
    before = len(backend)
    await kv.set_item("w", 0)
    reclaimed = before + 1 - len(backend)
    assert 0 < reclaimed <= RECLAIM_PER_CALL
    while len(backend) > 1:
        await kv.set_item("w", 0)
    assert await kv.get_all_items() == {"w": 0}


async def test_a_slid_ttl_is_honoured_by_reclamation(clock: Clock) -> None:
    backend = MemoryBackend(clock=clock)
    kv = KVStore(backend, "sessions")
    await kv.set_item("s", 1, ttl=10)
    for _ in range(1000):  # every request slides the idle timeout
        clock.now += 0.005
        assert await kv.touch("s", 10) is True
    clock.now += 9
    await kv.set_item("other", 0)  # reclamation passes the first expiry filed for "s"
    assert await kv.get_item("s") == 1
    clock.now += 2
    for _ in range(2):
        await kv.set_item("other", 0)
    assert len(backend) == 1


async def test_six_processes_closing_together_keep_every_session(tmp_path: Path) -> None:
    """``parlour serve --workers 6`` shutting down: each worker saves its 3,000 sessions to the
    one snapshot at the same moment. All 18,000 survive, and every process exits cleanly."""
    snapshot = tmp_path / "memory.jsonl"
    workers = [
        await start_python_module("support.snapshot_worker", str(snapshot), f"w{n}", "3000")
        for n in range(6)
    ]
    for worker in workers:
        await go(worker)
    assert [await worker.wait() for worker in workers] == [0] * 6
    reloaded = MemoryBackend(snapshot=snapshot)
    await reloaded.open()
    sessions = await KVStore(reloaded, "sessions").get_all_items()
    assert len(sessions) == 18_000
    assert sorted(os.listdir(tmp_path)) == ["memory.jsonl", "memory.jsonl.lock"]  # no leftovers


async def test_a_command_beside_a_server_neither_loses_nor_revives_its_sessions(
    tmp_path: Path,
) -> None:
    """A ``parlour`` command loads the snapshot, the server saves newer sessions (one new, one
    logged out), then the command closes: what the server wrote stands."""
    snapshot = tmp_path / "memory.jsonl"
    first = MemoryBackend(snapshot=snapshot)
    await first.open()
    await KVStore(first, "sessions").set_item("old", 1, ttl=3600)
    await first.close()
    server, command = MemoryBackend(snapshot=snapshot), MemoryBackend(snapshot=snapshot)
    await server.open()
    await command.open()
    await KVStore(server, "sessions").set_item("new", 2, ttl=3600)
    await KVStore(server, "sessions").remove_item("old")  # logged out
    await KVStore(command, "users").set_item("u1", "made by the command")
    await server.close()
    await command.close()
    reloaded = MemoryBackend(snapshot=snapshot)
    await reloaded.open()
    assert await KVStore(reloaded, "sessions").get_all_items() == {"new": 2}
    assert await KVStore(reloaded, "users").get_all_items() == {"u1": "made by the command"}


async def test_the_snapshot_is_private_from_its_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a umask that lets anyone read new files, the file being written is already 0600
    when its first bytes reach the disk, and so is the snapshot it becomes."""
    modes: list[int] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        modes.append(stat.S_IMODE(os.fstat(descriptor).st_mode))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    previous = os.umask(0)
    try:
        backend = MemoryBackend(snapshot=tmp_path / "memory.jsonl")
        await backend.open()
        await KVStore(backend, "sessions").set_item("s", {"csrf": "secret"}, ttl=60)
        await backend.close()
    finally:
        os.umask(previous)
    assert modes == [0o600]
    assert stat.S_IMODE((tmp_path / "memory.jsonl").stat().st_mode) == 0o600
