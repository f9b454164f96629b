"""Clients: who has booked, how often they came, did not come or cancelled, what they spent,
and what staff noted about them; a client's data exported, or erased on request.

Clients are not stored apart from their bookings: each booking names its client by a key
(services.bookings.client_keys says which: a phone number joins nobody),
and the client index (services.bookings.client_index), kept in the same step as every booking
change, holds each key's bookings. The list reads a page of it (services.clients.directory);
:func:`group` derives the same clients from every booking at once, the reference the index is
tested against.

Keys in the ``clients`` namespace:

    n:<client id>            the staff's notes on the client, oldest first
    alerts                   every note marked as an alert (services.clients.people)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from parlour.domain.booking import Booking, Status
from parlour.domain.text import HIDDEN, hidden_characters
from parlour.errors import Conflict, InvalidInput, NotFound
from parlour.services.bookings.client_keys import client_id, client_key_of
from parlour.services.bookings.records import ClientDetails, booking_to_json
from parlour.services.cache import NamespaceCache
from parlour.services.clients.directory import ClientDirectory, Page, Row
from parlour.services.clients.people import (
    ALERTS,
    AlertBook,
    alert_field,
    give_details,
    key_of,
    merged_details,
    move_notes,
    note_keys,
)
from parlour.services.clients.records import ClientRecords
from parlour.services.clients.search import matches, parse
from parlour.services.reviews import ReviewService
from parlour.storage.base import ABSENT, DELETE, JSON, KVStore

MAX_NOTE = 2000
ATTEMPTS = 8
ERASED_REVIEWER = "Former client"


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    text: str
    author: str
    at: str
    """ISO 8601, UTC."""
    alert: bool = False
    """Shown on each of the client's appointments (an allergy, a patch test)."""

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.at)


@dataclass(slots=True)
class ClientHistory:
    """A client as staff see them: who they are (their newest booking's details) and every
    booking they made, with what those add up to. Not the details a booking carries
    (:class:`~parlour.services.bookings.records.ClientDetails`)."""

    id: str
    keys: list[str]
    """The key that names it."""
    name: str
    email: str
    phone: str
    bookings: list[Booking] = field(default_factory=list)
    """Newest first."""

    @property
    def visits(self) -> int:
        return sum(b.status is Status.COMPLETED for b in self.bookings)

    @property
    def no_shows(self) -> int:
        return sum(b.status is Status.NO_SHOW for b in self.bookings)

    @property
    def cancellations(self) -> int:
        return sum(b.status is Status.CANCELLED for b in self.bookings)

    @property
    def spend(self) -> int:
        """Minor units, from completed visits."""
        return sum(b.price for b in self.bookings if b.status is Status.COMPLETED)

    @property
    def last_seen(self) -> datetime:
        return max(b.start for b in self.bookings)

    @property
    def row(self) -> Row:
        """Its line in the client list."""
        return Row(
            self.id,
            self.name,
            self.email,
            self.phone,
            self.visits,
            self.no_shows,
            self.cancellations,
            self.spend,
            self.last_seen,
        )

    def upcoming(self, now: datetime) -> list[Booking]:
        return [b for b in self.bookings if b.status is Status.CONFIRMED and b.start > now]

    def matches(self, query: str) -> bool:
        """Whether ``query`` finds this client (services.clients.search has the rule)."""
        return matches(parse(query), self.name, self.email, self.phone)


def group(bookings: Iterable[Booking]) -> list[ClientHistory]:
    """Clients from bookings (oldest made first): the newest booking of a client's own key
    gives its name and details. Reads nothing: the reference the client index is tested
    against."""
    by_key: dict[str, ClientHistory] = {}
    for booking in bookings:
        if key := client_key_of(booking):
            _add(by_key, key, booking)
    clients = list(by_key.values())
    for client in clients:
        client.bookings.sort(key=lambda b: b.start, reverse=True)
    return sorted(clients, key=lambda c: (c.name.casefold(), c.id))


def _add(by_key: dict[str, ClientHistory], key: str, booking: Booking) -> None:
    client = by_key.get(key)
    if client is None:
        client = by_key[key] = ClientHistory(client_id(key), [key], "", "", "")
    client.name, client.email, client.phone = booking.client_name, booking.email, booking.phone
    client.bookings.append(booking)


@dataclass(frozen=True, slots=True)
class Erased:
    bookings: int
    reviews: int
    notes: int


class ClientService:
    def __init__(
        self,
        records: ClientRecords,
        notes: KVStore,
        reviews: ReviewService,
        review_store: KVStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache: NamespaceCache | None = None,
    ) -> None:
        self._cache = cache if cache is not None else NamespaceCache([])
        """Where the alert book is kept between pages (read on every page of appointments)."""
        self._records = records
        self._directory = ClientDirectory(records.store, clock=clock)
        self._notes = notes
        self._reviews = reviews
        self._review_store = review_store
        self._clock = clock

    def now(self) -> datetime:
        """The instant on this service's clock: what a client's page splits visits by."""
        return self._clock()

    async def page(self, query: str = "", after: str = "") -> Page:
        """A page of the clients ``query`` finds (everyone, for none), after the client
        ``after`` (services.clients.directory)."""
        return await self._directory.page(query, after)

    async def get(self, wanted: str) -> ClientHistory:
        shown = await self._directory.client(wanted)
        if shown is None:
            raise NotFound("There is no such client. They may have been erased.")
        bookings = await self._records.bookings([visit.id for visit in shown.visits])
        newest = shown.own[-1]
        return ClientHistory(
            shown.id,
            list(shown.keys),
            newest.name,
            newest.email,
            newest.phone,
            sorted(bookings, key=lambda b: b.start, reverse=True),
        )

    async def notes(self, client: ClientHistory) -> list[Note]:
        found = await self._notes.get_many(note_keys(client.keys))
        notes = {
            n["id"]: Note(**n)
            for value in found.values()
            if isinstance(value, list)
            for n in value
            if isinstance(n, dict)
        }
        return sorted(notes.values(), key=lambda n: n.at)

    async def alerts(self) -> AlertBook:
        """Every client's alert notes, to show on their appointments."""

        async def load() -> AlertBook:
            return AlertBook.from_json(await self._notes.get_item(ALERTS))

        return await self._cache.get(self._notes.namespace, ALERTS, load)

    def _changed(self) -> None:
        """The notes were just written here: the alert book is read afresh (other processes
        hear of it through the change feed)."""
        self._cache.forget(self._notes.namespace)

    async def edit(self, client: ClientHistory, details: ClientDetails) -> str:
        """Every booking of the client given these details (their notes follow if that makes
        them another key); the client's id now. Refused if the details name another client:
        merge the two instead."""
        key = key_of(details)
        if key != client.keys[0]:
            other = await self._directory.client(client_id(key))
            if other is not None:
                raise Conflict(
                    f"{other.own[-1].name} already has "
                    f"{'that e-mail address' if details.email else 'that name and phone'}. "
                    f"To make them one client, merge the two instead."
                )
        await give_details(self._records, client.bookings, details)
        await move_notes(self._notes, client.keys, key)
        self._changed()
        return client_id(key)

    async def merge(self, kept: ClientHistory, other: ClientHistory) -> str:
        """``other``'s bookings and notes made ``kept``'s (services.clients.people says
        how); the merged client's id."""
        if kept.id == other.id:
            raise InvalidInput({"other": "Choose another client to merge with this one."})
        details = merged_details(
            ClientDetails(kept.name, kept.email, kept.phone),
            ClientDetails(other.name, other.email, other.phone),
        )
        await give_details(self._records, [*kept.bookings, *other.bookings], details)
        key = key_of(details)
        await move_notes(self._notes, [*kept.keys, *other.keys], key)
        self._changed()
        return client_id(key)

    async def add_note(
        self, client: ClientHistory, text: str, author: str, *, alert: bool = False
    ) -> Note:
        text = text.strip()
        if not text:
            raise InvalidInput({"note": "Write the note first."})
        if len(text) > MAX_NOTE:
            raise InvalidInput({"note": f"Keep a note under {MAX_NOTE} characters."})
        if hidden_characters(text, multiline=True):
            raise InvalidInput({"note": HIDDEN})
        note = Note(secrets.token_hex(6), text, author, self._clock().isoformat(), alert)
        key = f"n:{client.id}"
        merge = {ALERTS: {note.id: alert_field(client.keys[0], text)}} if alert else None
        for _ in range(ATTEMPTS):
            current = await self._notes.get_item(key)
            notes = [*(current if isinstance(current, list) else []), asdict(note)]
            expect = {key: ABSENT if current is None else current}
            if await self._notes.transact({key: notes}, expect=expect, merge=merge):
                self._changed()
                return note
        raise Conflict("The notes kept changing; please try again.")

    async def remove_note(self, client: ClientHistory, note_id: str) -> bool:
        removed = False
        for key in note_keys(client.keys):

            def without(current: JSON | None) -> JSON:
                return [
                    n
                    for n in (current if isinstance(current, list) else [])
                    if not (isinstance(n, dict) and n.get("id") == note_id)
                ]

            before = await self._notes.get_item(key)
            if isinstance(before, list) and any(
                isinstance(n, dict) and n.get("id") == note_id for n in before
            ):
                await self._notes.update(key, without)
                removed = True
        if removed:
            await self._notes.transact({}, merge={ALERTS: {note_id: DELETE}})
            self._changed()
        return removed

    async def export(self, client: ClientHistory) -> dict[str, Any]:
        """Everything kept about the client, as JSON: what a subject access request gets."""
        reviews = [await self._reviews.for_booking(b.id) for b in client.bookings]
        return {
            "client": {"name": client.name, "email": client.email, "phone": client.phone},
            "exported_at": self._clock().isoformat(),
            "summary": {
                "visits": client.visits,
                "no_shows": client.no_shows,
                "cancellations": client.cancellations,
                "spend_minor_units": client.spend,
            },
            "bookings": [_exported(b) for b in client.bookings],
            "reviews": [asdict(r) for r in reviews if r is not None],
            "notes": [asdict(n) for n in await self.notes(client)],
        }

    async def erase(self, client: ClientHistory) -> Erased:
        """Erase the client's details: every booking kept for the books but anonymised, its
        manage link invalidated; their reviews' names replaced; the staff's notes removed.
        Refused while they have a confirmed booking still to come (cancel it first)."""
        if client.upcoming(self._clock()):
            raise Conflict(
                f"{client.name} has a booking still to come. Cancel it first, then erase."
            )
        reviewed = 0
        for booking in client.bookings:
            await self._records.erase_client(booking.id)
            if await self._reviews.for_booking(booking.id) is not None:
                await self._review_store.update(booking.id, _anonymous_review)
                reviewed += 1
        keys = note_keys(client.keys)
        notes = await self.notes(client)
        alerts = dict.fromkeys((n.id for n in notes), DELETE)
        await self._notes.transact(dict.fromkeys(keys, DELETE), merge={ALERTS: alerts})
        self._changed()
        return Erased(len(client.bookings), reviewed, len(notes))


def _anonymous_review(current: JSON | None) -> JSON:
    return {**(current if isinstance(current, dict) else {}), "name": ERASED_REVIEWER}


def _exported(booking: Booking) -> dict[str, Any]:
    data = booking_to_json(booking)
    del data["token_hash"]  # not the client's data, and it opens nothing without the token
    return data
