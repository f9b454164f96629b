"""The client index brought up to date before it is read (services.bookings.client_index has
the layout).

A key waits in a pending shard from the change that needs it until a read: :meth:`ready` reads
the 256 shards (one round trip, nothing in them most of the time), and for each key still pending
works out its listing again from its bookings' summaries: its entries in the sorted index
(services.clients.search). One ``transact`` per batch of keys writes the listings and the
sorted index's leaves, and takes the keys off their shards, expecting
each key's summaries and listing as read: a booking that changed a key meanwhile fails it and it
is worked out again; a change after it puts the key back. So the work is what changed since the
last read, and it is never on a booking's path.

The build (:meth:`build`) puts in what the index does not hold yet: on an existing deployment's
first read, every booking made before the index existed. It reads the namespace once and
merges each booking's summary under its key, expecting the booking's record as read, so a
change made meanwhile (which indexes itself) is never overwritten by an older copy; summaries
under a key the booking no longer has are taken out the same way. Two instances building at
once do the same merges twice. Then every key's listing is worked out again, its entries put in
whatever its old listing said (stray entries of no listing are never shown), and the marker says
the build is done. :data:`VERSION` changes when the listing's rule does: a changed version
builds again, upgrading every listing in place. Version 2 (issue 24) is the rule that a phone
number joins nobody (services.bookings.client_keys): its build moves each phone-only booking's
summary to its new key (number and name), so clients the old rule showed as one come apart, and
removes the phones' owners (``c:p:<phone id>``) the old rule kept.

During a rolling upgrade, instances still on an older version change bookings without the index
after the first build; so the first read an hour (:data:`SETTLE`) after a build builds once more
(the marker says it settled), taking in whatever they changed: no step for the operator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from parlour.errors import Conflict
from parlour.services.bookings.client_index import (
    PENDING_KEYS,
    Visit,
    pending_key,
    summary,
    visits_of,
)
from parlour.services.bookings.client_keys import client_id, client_key_of
from parlour.services.bookings.keys import (
    CLIENT_INDEX_BUILT,
    CLIENT_SORTED,
    booking_id_of,
    booking_key,
    client_key_id_of,
    client_listing_key,
    client_owners_key,
    client_summaries_key,
    is_booking,
    is_client_listing,
    is_client_summaries,
)
from parlour.services.bookings.records import booking_from_json
from parlour.services.clients.search import entries
from parlour.services.sorted_index import MAX_LEAF, SortedIndex
from parlour.storage.base import ABSENT, DELETE, JSON, KVStore

VERSION = 3
"""2: names indexed by their words without accents (search.fold, issue 24 defect 19);
3: a phone-only booking's client is its phone and name, never another's (issue 24 defect 5)."""
SETTLE = timedelta(hours=1)
"""How long after a build the next read builds once more (longer than a rolling upgrade)."""
BATCH = 32
"""Keys brought up to date in one ``transact``."""
BUILD_BATCH = 200
ATTEMPTS = 8
_OWNERS = client_owners_key("")


@dataclass(frozen=True, slots=True)
class Listing:
    entries: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"entries": list(self.entries)}

    @classmethod
    def from_json(cls, value: JSON) -> Listing | None:
        if not isinstance(value, dict):
            return None
        return cls(tuple(value.get("entries", ())))


def listing_for(key_id: str, visits: Sequence[Visit]) -> Listing | None:
    """A key's listing from its visits (oldest made first): its newest booking's name, e-mail
    and phone."""
    if not visits:
        return None
    newest = visits[-1]
    return Listing(tuple(entries(key_id, newest.name, newest.email, newest.phone)))


class ClientListing:
    def __init__(
        self,
        store: KVStore,
        *,
        leaf_size: int = MAX_LEAF,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._clock = clock
        self.sorted = SortedIndex(store, CLIENT_SORTED, leaf_size=leaf_size)

    async def ready(self) -> None:
        """Build the index if it was never built (or by an older rule), or once more an hour
        after, then bring every pending key up to date."""
        found = await self._store.get_many([CLIENT_INDEX_BUILT, *PENDING_KEYS])
        if self._builds(found.get(CLIENT_INDEX_BUILT)):
            await self.build()
            found = await self._store.get_many(PENDING_KEYS)
        pending = sorted({key_id for key in PENDING_KEYS for key_id in found.get(key) or {}})
        for start in range(0, len(pending), BATCH):
            await self._bring_up_to_date(pending[start : start + BATCH])

    def _builds(self, marker: JSON) -> bool:
        """Whether the marker calls for a build: none, an older version's, or one that has
        not settled and is an hour old."""
        if not isinstance(marker, dict) or marker.get("version") != VERSION:
            return True
        if marker.get("settled"):
            return False
        at = marker.get("at")
        return not isinstance(at, str) or self._clock() - datetime.fromisoformat(at) >= SETTLE

    async def _bring_up_to_date(self, key_ids: Sequence[str], *, again: bool = False) -> None:
        """Work out the keys' listings again, and change the sorted index by what changed in
        them; ``again``: put every entry of the new listings in, whatever the old ones said
        (the build: an index restored from a backup taken while serving may lack some)."""
        for _ in range(ATTEMPTS):
            read = await self._store.get_many(
                [*map(client_summaries_key, key_ids), *map(client_listing_key, key_ids)]
            )
            writes: dict[str, JSON] = {}
            expect: dict[str, JSON] = {}
            merge: dict[str, dict[str, Any]] = {}
            added: set[str] = set()
            removed: set[str] = set()
            for key_id in key_ids:
                document, stored = (
                    read.get(client_summaries_key(key_id)),
                    read.get(client_listing_key(key_id)),
                )
                old = Listing.from_json(stored) or Listing(())
                new = listing_for(key_id, visits_of(document))
                expect[client_summaries_key(key_id)] = ABSENT if document is None else document
                expect[client_listing_key(key_id)] = ABSENT if stored is None else stored
                if document == {}:  # every booking it had was erased or moved away: tidy up
                    writes[client_summaries_key(key_id)] = DELETE
                if new != Listing.from_json(stored):
                    writes[client_listing_key(key_id)] = DELETE if new is None else new.to_json()
                new = new or Listing(())
                added |= set(new.entries) - (set() if again else set(old.entries))
                removed |= set(old.entries) - set(new.entries)
                merge.setdefault(pending_key(key_id), {})[key_id] = DELETE
            plan = await self.sorted.plan(added, removed)
            if await self._store.transact(
                {**writes, **plan.writes}, expect={**expect, **plan.expect}, merge=merge
            ):
                return
        raise Conflict("The client list kept changing while it was read; please try again.")

    async def build(self) -> None:
        """Index every booking the namespace holds, and work out every key's listing again."""
        marker = await self._store.get_item(CLIENT_INDEX_BUILT)
        first = None
        """When this version was first built, if it was: this build settles it."""
        if isinstance(marker, dict) and marker.get("version") == VERSION and "at" in marker:
            first = str(marker["at"])
        records: dict[str, JSON] = {}
        indexed: dict[str, set[str]] = {}
        """Booking id -> the keys whose summaries hold it."""
        keys: set[str] = set()
        owners: list[str] = []
        """The old rule's phones' owners, removed once every key is up to date."""
        async for key, value in self._store.items():
            if is_booking(key) and isinstance(value, dict):
                records[booking_id_of(key)] = value
            elif is_client_summaries(key) and isinstance(value, dict):
                keys.add(client_key_id_of(key))
                for booking_id in value:
                    indexed.setdefault(booking_id, set()).add(client_key_id_of(key))
            elif is_client_listing(key):
                keys.add(client_key_id_of(key))
            elif key.startswith(_OWNERS):
                owners.append(key)
        every = sorted(records.keys() | indexed.keys())
        for start in range(0, len(every), BUILD_BATCH):
            keys |= await self._put(every[start : start + BUILD_BATCH], records, indexed)
        ordered = sorted(keys)
        for start in range(0, len(ordered), BATCH):
            await self._bring_up_to_date(ordered[start : start + BATCH], again=True)
        for start in range(0, len(owners), BUILD_BATCH):
            await self._store.transact(dict.fromkeys(owners[start : start + BUILD_BATCH], DELETE))
        at, settled = (first, True) if first else (self._clock().isoformat(), False)
        await self._store.set_item(
            CLIENT_INDEX_BUILT, {"version": VERSION, "at": at, "settled": settled}
        )

    async def _put(
        self, booking_ids: Sequence[str], records: dict[str, JSON], indexed: dict[str, set[str]]
    ) -> set[str]:
        """Each booking's summary under its key and no other, expecting its record as read;
        the keys touched."""
        current = {booking_id: records.get(booking_id) for booking_id in booking_ids}
        for _ in range(ATTEMPTS):
            expect: dict[str, JSON] = {}
            merge: dict[str, dict[str, Any]] = {}
            for booking_id, record in current.items():
                expect[booking_key(booking_id)] = ABSENT if record is None else record
                owner = ""
                if record is not None:
                    booking = booking_from_json(record)
                    owner = client_id(key) if (key := client_key_of(booking)) else ""
                    if owner:
                        merge.setdefault(client_summaries_key(owner), {})[booking_id] = summary(
                            booking
                        )
                for stale in indexed.get(booking_id, set()) - {owner}:
                    merge.setdefault(client_summaries_key(stale), {})[booking_id] = DELETE
            if await self._store.transact({}, expect=expect, merge=merge):
                return {client_key_id_of(key) for key in merge}
            read = await self._store.get_many([booking_key(booking_id) for booking_id in current])
            current = {booking_id: read.get(booking_key(booking_id)) for booking_id in current}
        raise Conflict("Bookings kept changing while the client list was built; please try again.")
