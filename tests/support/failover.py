"""Kill a Redis master under load and record what the clients saw.

Used by the failover tests (which check that the app recovers by itself and loses nothing it
acknowledged) and by ``bench/failover.py`` (which reports how long requests failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from parlour.errors import StorageUnavailable
from parlour.storage import KVStore

WORKERS = 8


@dataclass
class Run:
    """Every write's outcome, in the order they finished."""

    outcomes: list[tuple[float, float, bool]] = field(default_factory=list)  # start, end, ok
    acknowledged: dict[str, int] = field(default_factory=dict)
    acknowledged_at: dict[str, float] = field(default_factory=dict)
    errors: set[str] = field(default_factory=set)
    killed_at: float = 0.0
    recovered: bool = False  # writes succeeded again, ``after`` in a row, within the limit
    lost: int = 0  # acknowledged writes missing afterwards, once counted by lost_writes()

    @property
    def recovered_at(self) -> float:
        """When the last failed write gave up: every write after it succeeded."""
        return max((end for _, end, _ in self.failures), default=self.killed_at)

    @property
    def failures(self) -> list[tuple[float, float, bool]]:
        return [outcome for outcome in self.outcomes if not outcome[2]]

    @property
    def outage(self) -> float:
        """Seconds from the kill to the first write that succeeded after the last failure."""
        if not self.failures:
            return 0.0
        last_failure = self.recovered_at
        recovered = min(
            (end for start, end, ok in self.outcomes if ok and start >= last_failure),
            default=float("nan"),
        )
        return recovered - self.killed_at

    @property
    def slowest_failure(self) -> float:
        """The longest a failed write took to say so: how fast failure is reported."""
        return max((end - start for start, end, _ in self.failures), default=0.0)


async def kill_under_load(
    kv: KVStore,
    kill: Callable[[], None],
    *,
    before: int = 300,
    after: int = 300,
    limit: float = 60.0,
) -> Run:
    """Write steadily with :data:`WORKERS` writers; ``kill()`` after ``before`` writes succeed,
    stop once ``after`` writes in a row succeeded after a failure (or after ``limit`` seconds)."""
    run = Run()
    loaded, recovered = asyncio.Event(), asyncio.Event()
    streak = 0  # writes that succeeded since the last failure

    async def writer(worker: int) -> None:
        nonlocal streak
        n = 0
        while not recovered.is_set():
            key = f"w{worker}-{n}"
            start = time.monotonic()
            try:
                await kv.set_item(key, n)
            except StorageUnavailable as exc:
                run.outcomes.append((start, time.monotonic(), False))
                run.errors.add(type(exc).__name__)
                streak = 0
                await asyncio.sleep(0.01)  # a client backing off, not a wait for a condition
            else:
                run.outcomes.append((start, time.monotonic(), True))
                run.acknowledged[key] = n
                run.acknowledged_at[key] = time.monotonic()
                streak += 1
                if len(run.acknowledged) >= before:
                    loaded.set()
                if run.killed_at and run.failures and streak >= after:
                    run.recovered = True
                    recovered.set()
            n += 1

    async def conductor() -> None:
        await loaded.wait()
        run.killed_at = time.monotonic()
        await asyncio.to_thread(kill)
        with contextlib.suppress(TimeoutError):  # a report, even of no recovery
            async with asyncio.timeout(limit):
                await recovered.wait()
        recovered.set()

    await asyncio.gather(conductor(), *(writer(worker) for worker in range(WORKERS)))
    return run


async def lost_writes(kv: KVStore, run: Run) -> list[str]:
    """Acknowledged writes that cannot be read back."""
    found = await kv.get_many(list(run.acknowledged))
    lost = [key for key, value in run.acknowledged.items() if found.get(key) != value]
    run.lost = len(lost)
    return lost
