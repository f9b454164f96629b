"""The memory backend reclaims what expired without ever doing unbounded work."""

from __future__ import annotations

import pytest

from parlour.storage import KVStore
from parlour.storage.memory import RECLAIM_PER_CALL, MemoryBackend


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
