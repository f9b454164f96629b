"""The bounded pool every password hash and check runs in.

argon2id as Parlour uses it takes 64 MiB and about 0.15 s of every core per hash or check, by
design. Run through ``asyncio.to_thread`` (the default executor: cpu + 4 threads, shared with
everything else sent there), a flood of logins from many addresses, each under its throttle, ran
six hashes at once and queued the rest without end: the server's RSS went from 89 to 481 MiB
and the public pages' p99 to 7x (``bench/login_flood.py``).

Here at most ``threads`` hashes run at once, at most ``queue`` more wait, and the next is refused
at once with :class:`~parlour.errors.Busy` (the web answers 503 with Retry-After), so memory is
bounded by ``threads`` x 64 MiB and no one waits behind an unbounded queue. The threads run at
a lower CPU priority (nice 10, on Linux; argon2's own lane threads inherit it): the event loop
answering the public pages comes first, and a login takes longer only while the CPU is short.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from parlour.errors import Busy

T = TypeVar("T")
NICENESS = 10
_FIRST_GUESS = 0.2
"""Seconds one hash is taken to cost until one has been timed (for Retry-After)."""


class HashingPool:
    """Runs blocking calls on at most ``threads`` threads with at most ``queue`` waiting."""

    def __init__(self, threads: int = 1, queue: int = 16) -> None:
        if threads < 1 or queue < 0:
            raise ValueError("a hashing pool needs a thread or more and a queue of 0 or more")
        self.threads = threads
        self.queue = queue
        self.refused = 0
        """Calls refused because the pool was full, since it was made."""
        self._admitted = 0  # running and waiting; released from the worker thread, hence the lock
        self._lock = threading.Lock()
        self._seconds = _FIRST_GUESS
        self._executor: ThreadPoolExecutor | None = None

    @property
    def in_flight(self) -> int:
        """Calls running or waiting now."""
        return self._admitted

    @property
    def full(self) -> bool:
        return self._admitted >= self.threads + self.queue

    def check(self) -> None:
        """Raise :class:`Busy` now if a call would be refused: a cheap answer before any
        other work is done for a request that would only be turned away."""
        if self.full:
            with self._lock:
                self.refused += 1
            raise self._busy()

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` on a pool thread; raises :class:`Busy` at once when the pool is full.

        A caller that gives up waiting (a hang-up) leaves its call counted until it has left
        the pool: a queued call is withdrawn, a running one finishes first."""
        with self._lock:
            if self._admitted >= self.threads + self.queue:
                self.refused += 1
                raise self._busy()
            self._admitted += 1
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.threads, thread_name_prefix="parlour-hash", initializer=_yield_to_the_loop
            )
        try:
            future = self._executor.submit(self._timed, work)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Let the threads go once their work is done (a later call starts them again)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def retry_after(self) -> int:
        """Seconds until a full pool has worked through what it holds (at least 1), and as much
        again at random: clients turned away together should not all come back together."""
        drained = max(1, math.ceil(self._seconds * (self.threads + self.queue) / self.threads))
        return drained + secrets.randbelow(drained + 1)

    def _busy(self) -> Busy:
        wait = self.retry_after()
        return Busy(
            "Too many passwords are being checked at this moment, so this one was not checked "
            f"and nothing was changed. Please try again in {wait} second{'s' if wait > 1 else ''}.",
            retry_after=wait,
        )

    def _timed(self, work: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return work()
        finally:
            # A running average of recent calls, for Retry-After; a lost update is harmless.
            self._seconds = 0.8 * self._seconds + 0.2 * (time.perf_counter() - started)

    def _release(self, _: object = None) -> None:
        with self._lock:
            self._admitted -= 1


def _yield_to_the_loop() -> None:
    if sys.platform == "linux":  # where a thread's niceness is its own (POSIX: the process's)
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
