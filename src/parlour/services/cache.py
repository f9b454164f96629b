"""What this process keeps of some namespaces, forgotten as soon as any instance changes them.

The catalogue (business, treatments, resources) and the gallery's index are read on almost every
page and changed rarely. Each is cached here while the change feed of its namespace is live:
an event from any process drops the namespace's entries, and a RESYNC (events may be lost)
drops everything. While the feed is down, nothing is cached and every read goes to the store.
A load that an event overtook is not kept, so a stale value is never cached after its change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from parlour.errors import StorageError
from parlour.storage.base import KVStore
from parlour.storage.events import ChangeEvent, ChangeKind

T = TypeVar("T")
log = logging.getLogger(__name__)
RETRY = 1.0


class NamespaceCache:
    def __init__(self, stores: Sequence[KVStore]) -> None:
        self._stores = list(stores)
        self._entries: dict[tuple[str, str], Any] = {}
        self._versions: defaultdict[str, int] = defaultdict(int)
        self._live: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    async def get(self, namespace: str, name: str, load: Callable[[], Awaitable[T]]) -> T:
        """``load()``'s value, from this process's memory while that is known to be current."""
        key = (namespace, name)
        if namespace in self._live and key in self._entries:
            return self._entries[key]  # type: ignore[no-any-return]
        version = self._versions[namespace]
        value = await load()
        if namespace in self._live and self._versions[namespace] == version:
            self._entries[key] = value
        return value

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow_all(), name="parlour-cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow_all(self) -> None:
        await asyncio.gather(*(self._follow(store) for store in self._stores))

    async def _follow(self, store: KVStore) -> None:
        namespace = store.namespace
        while True:
            try:
                async with store.subscribe() as events:
                    self._forget(namespace)  # whatever happened before the feed was live
                    self._live.add(namespace)
                    async for event in events:
                        self._apply(event)
            except StorageError as exc:
                log.info("caching of %s paused: %s", namespace, exc)
            self._live.discard(namespace)
            self._forget(namespace)
            await asyncio.sleep(RETRY)

    def _apply(self, event: ChangeEvent) -> None:
        if event.kind is ChangeKind.RESYNC:
            for namespace in list(self._live):
                self._forget(namespace)
        else:
            self._forget(event.namespace)

    def forget(self, namespace: str) -> None:
        """Drop a namespace now: this process just wrote to it."""
        self._forget(namespace)

    def _forget(self, namespace: str) -> None:
        self._versions[namespace] += 1
        for key in [k for k in self._entries if k[0] == namespace]:
            del self._entries[key]


class NoCache(NamespaceCache):
    """Every read goes to the store (tests, commands that run once)."""

    def __init__(self) -> None:
        super().__init__([])
