"""Change events from PostgreSQL: ``LISTEN`` on one dedicated connection per process.

Each write sends ``NOTIFY`` in its own statement, so an event goes out exactly when the write
commits. Notifications sent while this connection is down are lost, so after it comes back every
subscriber receives ``RESYNC``, as on Redis. A hung or partitioned server closes nothing, so the
connection is asked to answer now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging

import asyncpg

from parlour.errors import StorageError, StorageUnavailable
from parlour.storage.events import ChangeEvent, ChangeHub, ChangeKind
from parlour.storage.postgres_pool import Database

log = logging.getLogger(__name__)

_RECONNECT_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


class NotifyListener:
    """Feeds one backend's :class:`ChangeHub` from ``LISTEN channel``."""

    def __init__(self, database: Database, changes: ChangeHub, channel: str) -> None:
        self._database = database
        self._changes = changes
        self._channel = channel
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self.reconnects = 0

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._listening.clear()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="parlour-pg-changes")
        try:
            async with asyncio.timeout(self._database.deadline):
                await self._listening.wait()
        except TimeoutError:
            raise StorageUnavailable(
                f"PostgreSQL at {self._database.where} is not reachable, so change events "
                "cannot be delivered",
                backend="postgres",
            ) from None

    async def _listen(self) -> None:
        attempt = 0
        while True:
            connection = None
            lost = asyncio.Event()
            try:
                connection = await self._database.connect()
                connection.add_termination_listener(functools.partial(_set_event, lost))
                async with asyncio.timeout(self._database.deadline):
                    await connection.add_listener(self._channel, self._dispatch)
                if attempt:
                    self.reconnects += 1
                    log.warning("change events from %s are flowing again", self._database.where)
                    self._changes.restored()
                attempt = 0
                self._listening.set()
                while not lost.is_set():
                    # A hung or partitioned server closes nothing: ask it now and then.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._database.timeout * 10):
                            await lost.wait()
                    if not lost.is_set():
                        async with asyncio.timeout(self._database.deadline):
                            await connection.fetchval("SELECT 1")
                raise StorageUnavailable("the listening connection closed", backend="postgres")
            except (StorageError, TimeoutError, OSError, asyncpg.PostgresError) as exc:
                if self._listening.is_set() or attempt == 0:
                    log.warning("lost change events from %s: %s", self._database.where, exc)
                self._lost()
            except asyncpg.InterfaceError as exc:
                log.warning("lost change events from %s: %s", self._database.where, exc)
                self._lost()
            finally:
                if connection is not None:
                    connection.terminate()
            await asyncio.sleep(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)])
            attempt += 1

    def _lost(self) -> None:
        if self._listening.is_set():
            self._changes.lost()
        self._listening.clear()

    def _dispatch(self, connection: object, pid: int, channel: str, payload: object) -> None:
        try:
            namespace, key, kind = json.loads(str(payload))
            event = ChangeEvent(namespace, key, ChangeKind(kind))
        except (ValueError, TypeError):
            log.warning("ignored a malformed change event on %s", self._channel)
            return
        self._changes.publish(event)


def _set_event(event: asyncio.Event, connection: object) -> None:
    event.set()
