"""Change events and their fan-out to subscribers inside one process.

Each backend owns one :class:`ChangeHub`. Whatever carries events between processes (nothing for
memory, a change table for SQLite, pub/sub for Redis) feeds the hub; the hub hands every event to
each local subscriber of that namespace through a bounded queue (only the keys it asked for, by
prefix, when it named some: a busy namespace writes a dozen keys a booking and most subscribers
read two of them). A subscriber that falls behind,
or whose backend lost its event feed, receives :attr:`ChangeKind.RESYNC`: it may have missed
events and should re-read what it cares about.
"""

from __future__ import annotations

import asyncio
import enum
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType


class ChangeKind(enum.StrEnum):
    SET = "set"
    REMOVED = "removed"
    RESYNC = "resync"
    """Events may have been lost (a reconnect, a slow subscriber): re-read what you care about."""


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    namespace: str
    key: str
    kind: ChangeKind


Prefixes = tuple[str, ...] | None
"""The keys a subscriber wants, by prefix; ``None``: every key. A RESYNC reaches everyone."""


class ChangeHub:
    """Delivers events to the subscribers of one process, never blocking the publisher."""

    def __init__(self, queue_size: int = 1024) -> None:
        self._queue_size = queue_size
        self._queues: defaultdict[str, dict[asyncio.Queue[ChangeEvent], Prefixes]] = defaultdict(
            dict
        )
        """namespace -> each subscriber's queue and the key prefixes it wants (``None``: all)."""
        self.resyncs = 0
        """RESYNC events handed out: how often subscribers may have missed something."""
        self.flowing = True
        """Whether events from other processes are arriving now (``False`` from the moment the
        backend notices its feed is lost until it is back)."""
        self.epoch = 0
        """Raised whenever events may have been lost: a copy made in an earlier epoch is stale.
        Unlike a queued RESYNC it is seen at once, before a subscriber's task runs."""

    def register(self, namespace: str, prefixes: Prefixes = None) -> asyncio.Queue[ChangeEvent]:
        queue: asyncio.Queue[ChangeEvent] = asyncio.Queue(self._queue_size)
        self._queues[namespace][queue] = prefixes
        return queue

    def unregister(self, namespace: str, queue: asyncio.Queue[ChangeEvent]) -> None:
        subscribers = self._queues.get(namespace)
        if subscribers is not None:
            subscribers.pop(queue, None)
            if not subscribers:
                del self._queues[namespace]

    def has_subscribers(self) -> bool:
        return bool(self._queues)

    def publish(self, event: ChangeEvent) -> None:
        subscribers = self._queues.get(event.namespace)
        if not subscribers:
            return
        for queue, prefixes in tuple(subscribers.items()):
            if prefixes is None or event.key.startswith(prefixes):
                self._offer(queue, event)

    def lost(self) -> None:
        """The backend's feed broke: events are not arriving until :meth:`restored` (which
        queues the RESYNC; a copy that checks :attr:`flowing` stops trusting itself now)."""
        self.flowing = False
        self.epoch += 1

    def restored(self) -> None:
        """The feed is back; what happened meanwhile is unknown (a RESYNC says so)."""
        self.flowing = True
        self.resync_all()

    def resync_all(self) -> None:
        """Tell every subscriber it may have missed events."""
        self.epoch += 1
        for namespace, queues in tuple(self._queues.items()):
            for queue in tuple(queues):
                self._offer(queue, ChangeEvent(namespace, "", ChangeKind.RESYNC))

    def _offer(self, queue: asyncio.Queue[ChangeEvent], event: ChangeEvent) -> None:
        if event.kind is ChangeKind.RESYNC:
            self.resyncs += 1
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            # So far behind, old deltas are no use: replace them with one resync.
            while not queue.empty():
                queue.get_nowait()
            self.resyncs += 1
            queue.put_nowait(ChangeEvent(event.namespace, "", ChangeKind.RESYNC))


class Subscription:
    """Change events of one namespace: ``async with store.subscribe() as events: async for ...``.

    Entering waits until the backend's event feed is live, so every write that starts after
    ``__aenter__`` returns is delivered (or announced by a ``RESYNC``).
    """

    def __init__(
        self,
        hub: ChangeHub,
        namespace: str,
        ready: Callable[[], Awaitable[None]],
        prefixes: Prefixes = None,
    ) -> None:
        self._hub = hub
        self._namespace = namespace
        self._ready = ready
        self._prefixes = prefixes
        self._queue: asyncio.Queue[ChangeEvent] | None = None

    async def __aenter__(self) -> Subscription:
        self._queue = self._hub.register(self._namespace, self._prefixes)
        try:
            await self._ready()
        except BaseException:
            self._hub.unregister(self._namespace, self._queue)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._queue is not None:
            self._hub.unregister(self._namespace, self._queue)
            self._queue = None

    @property
    def flowing(self) -> bool:
        """Whether the backend is receiving events now (see :attr:`ChangeHub.flowing`)."""
        return self._hub.flowing

    @property
    def epoch(self) -> int:
        """See :attr:`ChangeHub.epoch`: a copy is current only while this has not moved."""
        return self._hub.epoch

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> ChangeEvent:
        if self._queue is None:
            raise RuntimeError("use the subscription inside 'async with store.subscribe()'")
        return await self._queue.get()

    async def next(self, timeout: float) -> ChangeEvent | None:
        """The next event, or ``None`` if none arrives within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                return await self.__anext__()
        except TimeoutError:
            return None
