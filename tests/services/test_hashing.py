"""The password-hashing pool: never more than its threads at once, never more than its queue
waiting, and a refusal at once beyond that (issue 21: a login flood ran argon2 six at a time and
queued the rest without end)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from parlour.errors import Busy
from parlour.services.hashing import HashingPool

from support.waiting import until


class Gate:
    """Work that blocks its pool thread until opened, counting how many run at once."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.running = self.most = self.done = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.opened.wait(timeout=30)
        with self._lock:
            self.running -= 1
            self.done += 1
        return 1


@pytest.mark.parametrize(("threads", "queue"), [(1, 0), (1, 3), (2, 5)])
async def test_at_most_threads_run_and_queue_wait_and_the_next_is_refused_at_once(
    threads: int, queue: int
) -> None:
    pool, gate = HashingPool(threads, queue), Gate()
    admitted = [asyncio.create_task(pool.run(gate)) for _ in range(threads + queue)]
    await until(lambda: gate.running == threads, what="the pool's threads busy")
    assert pool.in_flight == threads + queue
    assert pool.full
    with pytest.raises(Busy) as refused:
        await pool.run(gate)
    with pytest.raises(Busy):
        pool.check()
    assert pool.refused == 2
    assert refused.value.retry_after >= 1
    assert "try again in" in str(refused.value)
    gate.opened.set()
    assert await asyncio.gather(*admitted) == [1] * (threads + queue)
    assert gate.most == threads  # never more at once, however many were admitted
    await until(lambda: pool.in_flight == 0, what="every call released")
    assert not pool.full
    pool.close()


async def test_a_caller_that_leaves_the_queue_frees_its_place() -> None:
    pool, gate = HashingPool(1, 1), Gate()
    running = asyncio.create_task(pool.run(gate))
    await until(lambda: gate.running == 1, what="the thread busy")
    waiting = asyncio.create_task(pool.run(gate))
    await until(lambda: pool.full, what="the queue full")
    waiting.cancel()  # a client that hung up while its login waited
    await asyncio.gather(waiting, return_exceptions=True)
    await until(lambda: pool.in_flight == 1, what="the place given back")
    gate.opened.set()
    assert await running == 1
    assert gate.done == 1  # the withdrawn call never ran
    pool.close()


async def test_a_running_call_counts_until_it_has_finished_even_if_its_caller_left() -> None:
    pool, gate = HashingPool(1, 0), Gate()
    running = asyncio.create_task(pool.run(gate))
    await until(lambda: gate.running == 1, what="the thread busy")
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert pool.full  # the thread is still hashing: its memory is still in use
    gate.opened.set()
    await until(lambda: pool.in_flight == 0, what="the call finished")
    pool.close()


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="a thread or more"):
        HashingPool(0, 4)
