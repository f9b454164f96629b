"""The client list as staff read it, from the client index (services.bookings.client_index): a
page of clients in order, or of those a query finds (services.clients.search), and one client's
visits.

A page reads the pending shards (services.clients.listing brings any key still pending up to
date first), the stretch of the sorted index it shows, then for those keys their summaries and
listings: a handful of round trips of a size set by the page, whatever the size of the
namespace. Each key is one client (services.bookings.client_keys: a phone number joins nobody).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime

from parlour.domain.booking import Status
from parlour.services.bookings.client_index import Visit, visits_of
from parlour.services.bookings.keys import (
    client_listing_key,
    client_summaries_key,
)
from parlour.services.clients.listing import ClientListing, Listing
from parlour.services.clients.search import Kind, Query, key_of, parse
from parlour.services.sorted_index import MAX_LEAF
from parlour.storage.base import KVStore

PAGE = 50


@dataclass(frozen=True, slots=True)
class Shown:
    """A client as the index shows it: the key it is listed by, and its visits."""

    id: str
    keys: tuple[str, ...]
    """Its key."""
    own: tuple[Visit, ...]
    """Its visits, oldest made first: the newest names it."""

    @property
    def visits(self) -> tuple[Visit, ...]:
        return self.own

    @property
    def row(self) -> Row:
        newest = self.own[-1]
        completed = [v for v in self.visits if v.status is Status.COMPLETED]
        return Row(
            id=self.id,
            name=newest.name,
            email=newest.email,
            phone=newest.phone,
            visits=len(completed),
            no_shows=sum(v.status is Status.NO_SHOW for v in self.visits),
            cancellations=sum(v.status is Status.CANCELLED for v in self.visits),
            spend=sum(v.price for v in completed),
            last_seen=max(v.start for v in self.visits),
        )


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the client list."""

    id: str
    name: str
    email: str
    phone: str
    visits: int
    no_shows: int
    cancellations: int
    spend: int
    """Minor units, from completed visits."""
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class Page:
    clients: list[Row]
    next: str
    """The id of the last client shown, to ask for the page after it; "" on the last page."""


class ClientDirectory:
    def __init__(
        self,
        store: KVStore,
        *,
        leaf_size: int = MAX_LEAF,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self.listing = ClientListing(store, leaf_size=leaf_size, clock=clock)

    async def page(self, text: str = "", after: str = "", size: int = PAGE) -> Page:
        """The clients ``text`` finds (everyone, for none), in the index's order, from the one
        after ``after`` (a :attr:`Page.next`: if that client is still listed there; else from
        the first)."""
        await self.listing.ready()
        after, _, by = after.partition(".")
        query = await self._query(text, by)
        start, past = query.prefix, False
        if after:
            listed = Listing.from_json(await self._store.get_item(client_listing_key(after[:64])))
            entry = query.entry_of(listed.entries) if listed else None
            if entry is not None:
                start, past = entry, True
        rows: list[Row] = []
        waiting: list[str] = []
        strings = self.listing.sorted.strings_from(start, after=past)
        async with aclosing(strings):
            async for entry in strings:
                if not entry.startswith(query.prefix) or len(rows) > size:
                    break
                if query.lists(entry):
                    waiting.append(entry)
                if len(waiting) > size - len(rows):
                    rows += await self._rows(waiting, query)
                    waiting = []
        if waiting and len(rows) <= size:
            rows += await self._rows(waiting, query)
        if len(rows) <= size:
            return Page(rows, "")
        return Page(rows[:size], rows[size - 1].id + query.mark)

    async def _query(self, text: str, by: str) -> Query:
        """``text`` parsed; a name of several words searched by the one that fewest names
        start with, as the sorted index's root tells (``by``: the one earlier pages used)."""
        query = parse(text)
        if not query.mark:
            return query
        if by.isdigit() and int(by) < len(query.words):
            return query.by(query.words[int(by)])
        prefixes = {word: Query(Kind.NAME, word).prefix for word in query.words}
        spans = await self.listing.sorted.spans(prefixes.values())
        return query.by(min(query.words, key=lambda w: (spans[prefixes[w]], -len(w))))

    async def client(self, client_id: str) -> Shown | None:
        """The client listed by this id, or ``None``."""
        await self.listing.ready()
        found = (await self._shown([client_id[:64]])).get(client_id[:64])
        return None if found is None else found.shown

    async def _rows(self, entries: Sequence[str], query: Query) -> list[Row]:
        """The rows of the keys ``entries`` list, skipping an entry its key's listing no
        longer holds (changed while the page was read)."""
        shown = await self._shown([key_of(entry) for entry in entries])
        rows = []
        for entry in entries:
            client = shown.get(key_of(entry))
            if client is not None and query.entry_of(client.entries) == entry:
                rows.append(client.shown.row)
        return rows

    async def _shown(self, key_ids: Sequence[str]) -> dict[str, _Found]:
        key_ids = list(dict.fromkeys(key_ids))
        read = await self._store.get_many(
            [*map(client_summaries_key, key_ids), *map(client_listing_key, key_ids)]
        )
        visits = {k: visits_of(read.get(client_summaries_key(k))) for k in key_ids}
        listings = {
            k: listing
            for k in key_ids
            if visits[k]
            and (listing := Listing.from_json(read.get(client_listing_key(k)))) is not None
        }
        return {
            k: _Found(Shown(k, (visits[k][-1].key,), tuple(visits[k])), listing.entries)
            for k, listing in listings.items()
        }


@dataclass(frozen=True, slots=True)
class _Found:
    shown: Shown
    entries: tuple[str, ...]
