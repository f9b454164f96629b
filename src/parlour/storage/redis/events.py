"""Change events on Redis: pub/sub on ``{prefix}:changes``, one dedicated connection per process.

Each write script publishes its event in the same script as the write (atomic). Pub/sub ignores
the database number, so the prefix keeps deployments apart. Pub/sub drops what was sent while a
listener was away, so after its connection comes back every subscriber receives ``RESYNC``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import redis.exceptions as rx

from parlour.errors import StorageError, StorageUnavailable
from parlour.storage.events import ChangeEvent, ChangeHub, ChangeKind
from parlour.storage.redis.gate import Gate

log = logging.getLogger(__name__)

_RECONNECT_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


def encode_event(namespace: str, key: str, kind: ChangeKind) -> str:
    """The message a write script publishes: ``[namespace, key, kind]`` as JSON."""
    return json.dumps([namespace, key, kind.value], ensure_ascii=False)


class PubSubListener:
    """Feeds one backend's :class:`ChangeHub` from ``SUBSCRIBE channel``."""

    def __init__(self, gate: Gate, changes: ChangeHub, channel: str) -> None:
        self._gate = gate
        self._changes = changes
        self.channel = channel
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self.reconnects = 0

    async def start(self) -> None:
        """Listen (once per process), returning when subscribed or failing within the deadline."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="parlour-redis-changes")
        try:
            async with asyncio.timeout(self._gate.deadline):
                await self._listening.wait()
        except TimeoutError:
            raise StorageUnavailable(
                f"Redis at {self._gate.where} is not reachable, so change events cannot be "
                "delivered",
                backend="redis",
            ) from None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        gate = self._gate
        attempt = 0
        while True:
            pubsub = None
            try:
                # On a Cluster, also learns which node serves the channel.
                await gate.call(gate.client.ping, idempotent=True)
                pubsub = gate.client.pubsub()
                gate.held_outside += 1  # its connection, from subscribe() until aclose()
                with gate.translated():
                    async with asyncio.timeout(gate.deadline):
                        await pubsub.subscribe(self.channel)
                        while (await pubsub.get_message(timeout=gate.deadline)) is None:
                            pass  # the first message is the server confirming the subscription
                    if attempt:
                        self.reconnects += 1
                        log.warning("change events from %s are flowing again", gate.where)
                        self._changes.restored()
                    attempt = 0
                    self._listening.set()
                    while True:
                        message = await pubsub.get_message(timeout=None)
                        if message is not None and message["type"] == "message":
                            self._dispatch(message["data"])
            except (StorageError, TimeoutError) as exc:
                if self._listening.is_set() or attempt == 0:
                    log.warning("lost change events from %s: %s", gate.where, exc)
                if self._listening.is_set():
                    self._changes.lost()
                self._listening.clear()
            finally:
                # A fresh PubSub each time: redis-py would otherwise resubscribe silently, and
                # subscribers would never hear that events were lost in between.
                if pubsub is not None:
                    try:
                        with contextlib.suppress(rx.RedisError, OSError):
                            await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
                    finally:
                        gate.held_outside -= 1
            await asyncio.sleep(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)])
            attempt += 1

    def _dispatch(self, data: str) -> None:
        try:
            namespace, key, kind = json.loads(data)
            event = ChangeEvent(namespace, key, ChangeKind(kind))
        except (ValueError, TypeError):
            log.warning("ignored a malformed change event on %s", self.channel)
            return
        self._changes.publish(event)
