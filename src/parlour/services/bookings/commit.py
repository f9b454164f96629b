"""The one atomic step every booking command ends in.

A command's change (its claims and record, its day lists) is summed with the client index's
merges (services.bookings.client_index) and whatever the ``stage`` hook adds for the command's
:class:`~parlour.domain.events.BookingEvent` (its messages), and written in one ``transact``, so
all commit or none does. Called once per attempt: a retry stages afresh.
"""

from __future__ import annotations

from collections.abc import Mapping

from parlour.domain.events import BookingEvent
from parlour.errors import CorruptValue
from parlour.services.bookings.client_index import index_change as client_change
from parlour.services.bookings.day_cache import DayCache
from parlour.services.bookings.day_index import upgrade_legacy_days
from parlour.services.bookings.records import Stage
from parlour.services.staged import Staged
from parlour.storage.base import KVStore

ATTEMPTS = 8
"""How many times a command reads and tries again when what it read changed meanwhile."""


class Committer:
    def __init__(self, store: KVStore, stage: Stage | None, days: DayCache | None) -> None:
        self._store = store
        self._stage = stage
        self._days = days
        """This process's copy of day lists: what it commits is dropped from it at once."""

    async def __call__(
        self, event: BookingEvent, change: Staged, *, ttl: Mapping[str, float] | None = None
    ) -> bool:
        """Commit ``change`` for ``event``, with its messages and the client index's merges;
        ``False`` if an expectation failed (nothing was written)."""
        if self._stage is not None:
            change = change + await self._stage(event)
        change = change + client_change(event.before, event.booking)
        try:
            done = await self._transact(change, ttl)
        except CorruptValue:  # a day an older version stored as an array: upgrade, try again
            if not await upgrade_legacy_days(self._store, list(change.merge)):
                raise
            done = await self._transact(change, ttl)
        if done and self._days is not None:  # read what this process wrote, before its event
            self._days.forget([*change.writes, *change.merge])
        return done

    async def _transact(self, change: Staged, ttl: Mapping[str, float] | None) -> bool:
        return await self._store.transact(
            change.writes, expect=change.expect, ttl=ttl, merge=change.merge or None
        )
