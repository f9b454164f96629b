"""A message's lease, renewed while its send is under way.

A lease must outlast the send it covers, or another worker takes the message over and sends it
again. A send may wait ten minutes for the server's answer to its final dot (RFC 5321
4.5.3.2.6; mail/transport.py), so the lease is renewed while the send runs (every third of its
length) rather than sized for the longest wait: a lease as long as that would also keep a dead
worker's messages waiting ten minutes for the next worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType

from parlour.errors import StorageError
from parlour.services.outbox.records import Message
from parlour.services.outbox.store import Outbox

log = logging.getLogger(__name__)


class LeaseKeeper:
    """``async with LeaseKeeper(...) as lease:`` send; then ``lease.current`` is the record as
    this worker last wrote it (what marking it sent compares against)."""

    def __init__(
        self, outbox: Outbox, leased: Message, seconds: float, clock: Callable[[], float]
    ) -> None:
        self.outbox = outbox
        self.current = leased
        self.seconds = seconds
        self.clock = clock
        self.lost = False
        """Renewal found the record changed: staff cancelled it, or (its store unreachable
        longer than a lease) another worker took it over."""
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LeaseKeeper:
        self._task = asyncio.create_task(self._renew(), name=f"lease {self.current.id}")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._task is not None:
            # Let a renewal in flight finish: ``current`` must say what the store holds.
            await asyncio.shield(self._task)

    async def _renew(self) -> None:
        while not self._done.is_set():
            try:
                async with asyncio.timeout(self.seconds / 3):
                    await self._done.wait()
                return
            except TimeoutError:
                pass
            try:
                renewed = await self.outbox.renew(self.current, self.clock(), self.seconds)
            except StorageError as exc:  # try again at the next third; the lease still holds
                log.warning("delivery: could not renew the lease on %s: %s", self.current.id, exc)
                continue
            if renewed is None:
                self.lost = True
                log.warning(
                    "delivery: %s changed while being sent (cancelled, or taken over): it may "
                    "be sent twice",
                    self.current.id,
                )
                return
            self.current = renewed
