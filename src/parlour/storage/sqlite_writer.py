"""Group commit: one thread owns the write connection and commits queued writes together.

With ``synchronous=FULL`` every commit waits for the disk, so committing each write on its own caps
a process at a few thousand durable writes a second. The writer takes every write that is waiting,
runs each inside its own savepoint (a failing write is rolled back alone), commits once, and only
then answers each caller. Durability is unchanged: nothing is acknowledged before its commit.
It also makes writes of one process queue in order, which SQLite's busy handler does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
MAX_BATCH = 256


@dataclass(slots=True)
class _Job:
    work: Callable[[sqlite3.Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class GroupCommitWriter:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        translate: Callable[[Exception], Exception],
    ) -> None:
        self._connect = connect
        self._translate = translate
        self._connection: sqlite3.Connection | None = None
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._serve, name="parlour-sqlite-write", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish the queued writes, close the connection and end the thread (blocks)."""
        self._queue.put(None)
        self._thread.join()

    async def submit(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` inside a write transaction; return once it is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(work, loop, future))
        return await future

    def _serve(self) -> None:
        try:
            while (first := self._queue.get()) is not None:
                batch = [first]
                stopping = False
                while len(batch) < MAX_BATCH:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stopping = True
                        break
                    batch.append(job)
                for job, outcome in zip(batch, self._commit(batch), strict=True):
                    _answer(job, outcome)
                if stopping:
                    return
        finally:
            if self._connection is not None:
                self._connection.close()

    def _commit(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        try:
            if self._connection is None:
                self._connection = self._connect()
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
        except Exception as exc:
            return [(False, self._translate(exc))] * len(batch)
        outcomes: list[tuple[bool, Any]] = []
        try:
            for job in batch:
                connection.execute("SAVEPOINT job")
                try:
                    outcomes.append((True, job.work(connection)))
                except Exception as exc:
                    connection.execute("ROLLBACK TO job")
                    outcomes.append((False, self._translate(exc)))
                connection.execute("RELEASE job")
            connection.execute("COMMIT")
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            return [(False, self._translate(exc))] * len(batch)
        return outcomes


def _answer(job: _Job, outcome: tuple[bool, Any]) -> None:
    def settle() -> None:
        if job.future.done():  # the caller was cancelled; the write stands all the same
            return
        ok, value = outcome
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)

    with contextlib.suppress(RuntimeError):  # the caller's event loop has closed
        job.loop.call_soon_threadsafe(settle)
