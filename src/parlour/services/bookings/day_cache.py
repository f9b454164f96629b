"""What availability needs of a day, kept per process: each resource's bookings of a local day,
decoded once, forgotten as soon as any instance changes them.

An availability look-up reads the day lists of three days (``d:<date>:<resource>``: buffers may
cross midnight) and every booking they name; on a day of 200 bookings that was a few hundred
records decoded per request, though the day changes only when a booking does. Here each day
list is kept with its bookings, decoded, and the busy units of those that hold time.

Invalidation follows the ``bookings`` change feed, as :class:`~parlour.services.cache.ItemCache`
does: an event for a day list drops that list; an event for a booking record (``b:<id>``: a
cancellation, a status change, a move) drops every list holding that booking; a RESYNC or a lost
feed drops everything, and while the feed is down nothing is kept. A load that an event for any
key it read overtook is not kept. The decoded records of kept lists are kept too, dropped only
by an event for the record: a list that a booking joined is reloaded without decoding again
every booking it already held. None of this decides a booking: the claims of its units do
(services.bookings.claims), so a copy can at worst offer a time that was just taken, exactly as
a read from the store an instant earlier would.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from parlour.domain.booking import Booking
from parlour.services.bookings.keys import (
    BOOKING_RECORDS,
    DAY_LISTS,
    booking_id_of,
    booking_key,
    is_booking,
    is_day,
)
from parlour.services.cache import FeedCache
from parlour.storage.base import KVStore

DAYS = 20_000
"""Day lists kept (one resource's local day each): a year of 50 resources."""
RECORDS = 50_000
"""Decoded booking records kept for reloading day lists (:meth:`DayCache.records`)."""
MEMO = 1_000
"""Computed results kept (:meth:`DayCache.memo`): a day's slots of each treatment."""
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DayList:
    """One resource's bookings of one local day (cancelled too), and the units those that hold
    time keep busy, by resource."""

    bookings: tuple[Booking, ...]
    busy: Mapping[str, frozenset[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, bookings: Iterable[Booking]) -> DayList:
        held = tuple(bookings)
        busy: dict[str, set[int]] = {}
        for booking in held:
            if booking.holds_time:
                busy.setdefault(booking.resource_id, set()).update(booking.units)
        return cls(held, {resource: frozenset(units) for resource, units in busy.items()})


Load = Callable[[Sequence[str]], Awaitable[dict[str, DayList]]]


class DayCache(FeedCache):
    PREFIXES = (*DAY_LISTS, *BOOKING_RECORDS)  # the rest of a booking is not read

    def __init__(self, store: KVStore, size: int = DAYS) -> None:
        super().__init__(store)
        self._size = size
        self._entries: OrderedDict[str, DayList] = OrderedDict()
        self._holding: dict[str, set[str]] = {}
        """booking id -> the kept day lists that hold it."""
        self._flights: dict[object, set[str]] = {}
        """For each load in flight (by a token of its own), the keys events named meanwhile."""
        self.hits = 0
        """Day lists answered from memory."""
        self._memo: OrderedDict[Hashable, tuple[tuple[object, ...], object]] = OrderedDict()
        self._records: OrderedDict[str, Booking] = OrderedDict()
        """booking id -> its record, decoded, as kept lists held it: a list dropped because a
        booking joined or left it is reloaded without decoding again the bookings it still
        holds. Only an event for the record itself (``b:<id>``) drops it."""

    def __len__(self) -> int:
        return len(self._entries)

    async def days(self, keys: Sequence[str], load: Load) -> dict[str, DayList]:
        """The day lists ``keys``: kept ones from memory, the rest from ``load(missing)``."""
        found: dict[str, DayList] = {}
        if self.live:
            for key in keys:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
                    found[key] = entry
            self.hits += len(found)
        missing = [key for key in keys if key not in found]
        if not missing:
            return found
        token, named = object(), set[str]()
        self._flights[token] = named
        epoch = self._epoch
        try:
            loaded = await load(missing)
        finally:
            del self._flights[token]
        keep = self._size > 0 and self.live and self._epoch == epoch and "*" not in named
        for key in missing:
            entry = loaded.get(key, DayList(()))
            found[key] = entry
            if not keep:
                continue
            fresh = [b for b in entry.bookings if booking_key(b.id) not in named]
            self._keep_records(fresh)  # even when the list itself changed meanwhile
            if key not in named and len(fresh) == len(entry.bookings):
                self._keep(key, entry)
        return found

    def records(self, ids: Iterable[str]) -> dict[str, Booking]:
        """The booking records of ``ids`` this process holds, decoded, unchanged since (by any
        instance): a reload of a day list reads only the others."""
        if not self.live:
            return {}
        return {i: booking for i in ids if (booking := self._records.get(i)) is not None}

    def memo(self, key: Hashable, inputs: Sequence[object], compute: Callable[[], T]) -> T:
        """``compute()``, again for as long as ``inputs`` are the very objects it was computed
        from: a kept day list, a cached treatment or catalogue is replaced, never changed, when
        it changes, so identity says "unchanged" without comparing contents."""
        found = self._memo.get(key)
        if (
            found is not None
            and len(found[0]) == len(inputs)
            and all(a is b for a, b in zip(found[0], inputs, strict=True))
        ):
            self._memo.move_to_end(key)
            return cast(T, found[1])
        value = compute()
        self._memo[key] = (tuple(inputs), value)
        self._memo.move_to_end(key)
        while len(self._memo) > MEMO:
            self._memo.popitem(last=False)
        return value

    def _keep(self, key: str, entry: DayList) -> None:
        self._drop(key)
        self._entries[key] = entry
        for booking in entry.bookings:
            self._holding.setdefault(booking.id, set()).add(key)
        while len(self._entries) > self._size:
            self._drop(next(iter(self._entries)))

    def _keep_records(self, bookings: Iterable[Booking]) -> None:
        for booking in bookings:
            self._records[booking.id] = booking
            self._records.move_to_end(booking.id)
        while len(self._records) > RECORDS:
            self._records.popitem(last=False)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for booking in entry.bookings:
            lists = self._holding.get(booking.id)
            if lists is not None:
                lists.discard(key)
                if not lists:
                    del self._holding[booking.id]

    def forget(self, keys: Iterable[str]) -> None:
        """Drop what the keys ``keys`` (day lists or booking records) touch: this process just
        wrote them."""
        for key in keys:
            self.changed(key)

    def clear(self) -> None:
        self._memo.clear()
        self._entries.clear()
        self._holding.clear()
        self._records.clear()
        for named in self._flights.values():
            named.add("*")  # nothing loaded before now may be kept

    def changed(self, key: str) -> None:
        for named in self._flights.values():
            named.add(key)
        if is_day(key):
            self._drop(key)
        elif is_booking(key):
            self._records.pop(booking_id_of(key), None)
            for day in list(self._holding.get(booking_id_of(key), ())):
                self._drop(day)
