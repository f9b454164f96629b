"""What this process keeps of some namespaces, forgotten as soon as any instance changes them.

Two shapes, one rule. :class:`NamespaceCache` keeps values derived from whole namespaces read on
almost every page and changed rarely (business, treatments, resources, the gallery's index,
``users``): an event from any process drops the namespace's entries. :class:`ItemCache` keeps
recently read items of one busy namespace (sessions), bounded in number: an event drops only
the item it names.

Both drop everything on a RESYNC (events may have been lost) and keep nothing while their
subscription is not open. :class:`ItemCache` is stricter, as sessions must be: it compares the
feed's epoch (``Subscription.epoch``) on every read, so a lost feed is acted on at once, not
when a queued RESYNC is read, and while the feed is down it keeps and uses nothing. A load that
an event overtook is not kept, so a stale value is never cached after its change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

from parlour.errors import StorageError
from parlour.storage.base import KVStore
from parlour.storage.events import ChangeEvent, ChangeKind, Prefixes, Subscription

T = TypeVar("T")
V = TypeVar("V")
log = logging.getLogger(__name__)
RETRY = 1.0


async def follow(
    store: KVStore,
    live: Callable[[Subscription | None], None],
    apply: Callable[[ChangeEvent], None],
    prefixes: Prefixes = None,
) -> None:
    """Feed ``store``'s change events (of keys starting with ``prefixes``, if given) to
    ``apply`` for ever; ``live(subscription)`` once they flow, ``live(None)`` when they stopped
    (then a retry after :data:`RETRY`)."""
    while True:
        try:
            async with store.subscribe(prefixes) as events:
                live(events)
                async for event in events:
                    apply(event)
        except StorageError as exc:
            log.info("caching of %s paused: %s", store.namespace, exc)
        finally:
            live(None)
        await asyncio.sleep(RETRY)


class Follower:
    """Start and stop one task that follows some stores."""

    _task: asyncio.Task[None] | None = None

    def _follow_all(self) -> Coroutine[Any, Any, Any]:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow_all(), name="parlour-cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class NamespaceCache(Follower):
    def __init__(self, stores: Sequence[KVStore]) -> None:
        self._stores = list(stores)
        self._entries: dict[tuple[str, str], Any] = {}
        self._versions: defaultdict[str, int] = defaultdict(int)
        self._live: set[str] = set()

    def _current(self, namespace: str) -> bool:
        # Unlike ItemCache, a copy here outlives a lost feed until its RESYNC: the catalogue
        # keeps public pages up through a Redis outage (tests/faults), and what a late RESYNC
        # can leave stale for a moment is a price or an opening hour, never a permission.
        return namespace in self._live

    async def get(self, namespace: str, name: str, load: Callable[[], Awaitable[T]]) -> T:
        """``load()``'s value, from this process's memory while that is known to be current."""
        key = (namespace, name)
        if self._current(namespace) and key in self._entries:
            return self._entries[key]  # type: ignore[no-any-return]
        version = self._versions[namespace]
        value = await load()
        if self._current(namespace) and self._versions[namespace] == version:
            self._entries[key] = value
        return value

    async def _follow_all(self) -> None:
        await asyncio.gather(*(self._follow(store) for store in self._stores))

    async def _follow(self, store: KVStore) -> None:
        namespace = store.namespace

        def live(events: Subscription | None) -> None:
            self._forget(namespace)  # whatever happened while the feed was not live
            if events is None:
                self._live.discard(namespace)
            else:
                self._live.add(namespace)

        await follow(store, live, self._apply)

    def _apply(self, event: ChangeEvent) -> None:
        if event.kind is ChangeKind.RESYNC:
            for namespace in list(self._live):
                self._forget(namespace)
        else:
            self._forget(event.namespace)

    def forget(self, namespace: str) -> None:
        """Drop a namespace now: this process just wrote to it."""
        self._forget(namespace)

    def clear(self) -> None:
        """Drop everything: the store was replaced or emptied (no event says so)."""
        for store in self._stores:
            self._forget(store.namespace)

    def _forget(self, namespace: str) -> None:
        self._versions[namespace] += 1
        for key in [k for k in self._entries if k[0] == namespace]:
            del self._entries[key]


class NoCache(NamespaceCache):
    """Every read goes to the store (tests, commands that run once)."""

    def __init__(self) -> None:
        super().__init__([])


class FeedCache(Follower):
    """Copies from one namespace, kept only while its change feed flows: every change event
    goes to :meth:`changed`, and the whole copy is dropped when the feed is lost or resyncs."""

    PREFIXES: Prefixes = None
    """The keys whose changes :meth:`changed` acts on, by prefix (``None``: every key): the
    others are never queued for it."""

    def __init__(self, store: KVStore) -> None:
        self._store = store
        self._feed: Subscription | None = None
        self._epoch = 0

    @property
    def live(self) -> bool:
        """Whether copies are being used: the feed is live and nothing was lost since."""
        feed = self._feed
        if feed is not None and feed.epoch != self._epoch:
            self.clear()  # events were lost: nothing kept from before is trusted
            self._epoch = feed.epoch
        return feed is not None and feed.flowing

    def clear(self) -> None:
        raise NotImplementedError

    def changed(self, key: str) -> None:
        """Some process changed or removed ``key``."""
        raise NotImplementedError

    async def _follow_all(self) -> None:
        def live(events: Subscription | None) -> None:
            self.clear()
            self._feed = events
            if events is not None:
                self._epoch = events.epoch

        await follow(self._store, live, self._apply, self.PREFIXES)

    def _apply(self, event: ChangeEvent) -> None:
        if event.kind is ChangeKind.RESYNC:
            self.clear()
        else:
            self.changed(event.key)


class ItemCache(FeedCache, Generic[V]):
    """The ``size`` most recently read items of one namespace, each dropped when any process
    changes it. ``size`` 0 keeps nothing (every read goes to the store)."""

    def __init__(self, store: KVStore, size: int) -> None:
        super().__init__(store)
        self._size = size
        self._entries: OrderedDict[str, V] = OrderedDict()
        self._loading: dict[str, object] = {}
        """key -> a token for the load in flight; an event for the key takes it away."""
        self.hits = 0
        self.misses = 0

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The item, from memory while that is known to be current, else ``load()``'s."""
        if self.live:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return value
        self.misses += 1
        token = self._loading[key] = object()
        epoch = self._epoch
        try:
            value = await load()
        finally:
            kept = self._loading.get(key) is token
            if kept:
                del self._loading[key]
        if kept and value is not None and self._size and self.live and self._epoch == epoch:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value

    def forget(self, key: str) -> None:
        """Drop one item now: this process just changed or removed it."""
        self._entries.pop(key, None)
        self._loading.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
        self._loading.clear()

    def changed(self, key: str) -> None:
        self.forget(key)
