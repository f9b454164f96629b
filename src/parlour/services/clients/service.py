"""Clients: who has booked, how often they came, did not come or cancelled, what they spent,
and what staff noted about them; a client's data exported, or erased on request.

Clients are not stored apart from their bookings: each booking names its client by a key
(services.bookings.client_keys says which, and how a phone-only booking joins an e-mail client),
and the client index (services.bookings.client_index), kept in the same step as every booking
change, holds each key's bookings. The list reads a page of it (services.clients.directory);
:func:`group` derives the same clients from every booking at once, the reference the index is
tested against.

Keys in the ``clients`` namespace:

    n:<client id>            the staff's notes on the client, oldest first
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
from parlour.services.bookings.client_keys import (
    client_id,
    client_key,
    phone_client_key,
    shown_under,
)
from parlour.services.bookings.records import booking_to_json
from parlour.services.clients.directory import ClientDirectory, Page, Row
from parlour.services.clients.records import ClientRecords
from parlour.services.clients.search import matches, parse
from parlour.services.reviews import ReviewService
from parlour.storage.base import DELETE, JSON, KVStore

MAX_NOTE = 2000
ERASED_REVIEWER = "Former client"


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    text: str
    author: str
    at: str
    """ISO 8601, UTC."""

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
    """The key that names it first, then any phone-only key that joined it."""
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
    phone_only: list[tuple[str, Booking]] = []
    for booking in bookings:
        key = client_key(booking.email, booking.phone)
        if not key:
            continue
        if key.startswith("tel:"):
            phone_only.append((key, booking))
            continue
        _add(by_key, key, booking)
    owners: dict[str, set[str]] = {}
    for key, client in by_key.items():
        for phone in {phone_client_key(b.phone) for b in client.bookings} - {""}:
            owners.setdefault(phone, set()).add(key)
    for key, booking in phone_only:
        shown = shown_under(key, owners.get(key, set()), phone_only=True)
        if shown != key:
            owner = by_key[shown]
            owner.bookings.insert(0, booking)  # kept in order below
            if key not in owner.keys:
                owner.keys.append(key)
        else:
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
    ) -> None:
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
        found = await self._notes.get_many([f"n:{client_id(k)}" for k in client.keys])
        notes = [Note(**n) for value in found.values() if isinstance(value, list) for n in value]
        return sorted(notes, key=lambda n: n.at)

    async def add_note(self, client: ClientHistory, text: str, author: str) -> Note:
        text = text.strip()
        if not text:
            raise InvalidInput({"note": "Write the note first."})
        if len(text) > MAX_NOTE:
            raise InvalidInput({"note": f"Keep a note under {MAX_NOTE} characters."})
        if hidden_characters(text, multiline=True):
            raise InvalidInput({"note": HIDDEN})
        note = Note(secrets.token_hex(6), text, author, self._clock().isoformat())

        def append(current: JSON | None) -> JSON:
            return [*(current if isinstance(current, list) else []), asdict(note)]

        await self._notes.update(f"n:{client.id}", append)
        return note

    async def remove_note(self, client: ClientHistory, note_id: str) -> bool:
        removed = False
        for key in client.keys:

            def without(current: JSON | None) -> JSON:
                return [
                    n
                    for n in (current if isinstance(current, list) else [])
                    if not (isinstance(n, dict) and n.get("id") == note_id)
                ]

            before = await self._notes.get_item(f"n:{client_id(key)}")
            if isinstance(before, list) and any(
                isinstance(n, dict) and n.get("id") == note_id for n in before
            ):
                await self._notes.update(f"n:{client_id(key)}", without)
                removed = True
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
        keys = [f"n:{client_id(k)}" for k in client.keys]
        notes = len(await self.notes(client))
        await self._notes.transact(dict.fromkeys(keys, DELETE))
        return Erased(len(client.bookings), reviewed, notes)


def _anonymous_review(current: JSON | None) -> JSON:
    return {**(current if isinstance(current, dict) else {}), "name": ERASED_REVIEWER}


def _exported(booking: Booking) -> dict[str, Any]:
    data = booking_to_json(booking)
    del data["token_hash"]  # not the client's data, and it opens nothing without the token
    return data
