"""What the booking engine reads and answers: stored records, parsed requests, typed results.

Kept apart from the engine (services.bookings.engine) so that adapters (the web form, the JSON
API, the staff desk, the demo) and the notification wiring can use them without the engine.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

from parlour.domain.addresses import parse_email
from parlour.domain.booking import Booking, Status
from parlour.domain.events import Actor, BookingEvent
from parlour.domain.text import HIDDEN, hidden_characters
from parlour.errors import InvalidInput
from parlour.services.staged import Staged

MAX_NAME = 100
MAX_PHONE = 30
_PHONE = re.compile(rf"[+()0-9 .-]{{5,{MAX_PHONE}}}")
_HIDDEN = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
NAME_PATTERN = rf"^[^{_HIDDEN}]*[^\s{_HIDDEN}][^{_HIDDEN}]*$"
"""A client's name as :meth:`ClientDetails.from_fields` accepts it, for the API's schema: something
besides spaces, and no control characters or direction overrides (``domain.text``; lone
surrogates are not text a JSON document can carry)."""
PHONE_PATTERN = r"^[+() .-]*(?:[0-9][+() .-]*){5,}$"
"""A phone number as :meth:`ClientDetails.from_fields` accepts it: digits, spaces, ``+ ( ) . -``,
at least five digits (and, in the schema, at most ``MAX_PHONE`` characters in all)."""

Stage = Callable[[BookingEvent], Awaitable[Staged]]
"""The engine's hook: what a change adds to its own ``transact`` (its messages), given the event
the change makes. Awaited once per attempt, so a retried change stages afresh."""


_BOOKING_FIELDS = tuple(f.name for f in fields(Booking))


def booking_to_json(booking: Booking) -> dict[str, Any]:
    data = {name: getattr(booking, name) for name in _BOOKING_FIELDS}  # flat: no deep copy
    data["start"] = booking.start.isoformat()
    data["created_at"] = booking.created_at.isoformat()
    data["updated_at"] = booking.updated_at and booking.updated_at.isoformat()
    data["status"] = booking.status.value
    return data


def booking_from_json(data: Mapping[str, Any]) -> Booking:
    return Booking(
        **{
            **data,
            "start": datetime.fromisoformat(data["start"]),
            "created_at": datetime.fromisoformat(data["created_at"]),
            "updated_at": data.get("updated_at") and datetime.fromisoformat(data["updated_at"]),
            "status": Status(data["status"]),
        }
    )


FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)
"""The dates any page or command reads: far beyond any salon's calendar, and far enough from
the ends of Python's calendar that a day, a week or a time zone on either side never overflows."""
OUT_OF_RANGE = f"Choose a date between {FIRST_DAY.year} and {LAST_DAY.year}."


def in_range(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def utc_instant(instant: datetime, field: str = "start") -> datetime:
    """An aware instant in UTC, refused (``InvalidInput``) outside the years the calendar
    reads: checked before any arithmetic, so none overflows."""
    if instant.tzinfo is None:
        raise InvalidInput({field: "Give the time with its offset, like +00:00."})
    if not FIRST_DAY <= instant.date() <= LAST_DAY:  # its own date: no conversion yet
        raise InvalidInput({field: OUT_OF_RANGE})
    return instant.astimezone(UTC)


def parse_start(text: str) -> datetime:
    """An ISO 8601 instant with its offset (``2026-12-01T10:00:00Z``); naive times are refused,
    since a time without a zone is ambiguous twice a year."""
    try:
        start = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput({"start": "Give the time like 2026-12-01T10:00:00+00:00."}) from exc
    return utc_instant(start)


@dataclass(frozen=True, slots=True)
class Booked:
    """What a booking command answers."""

    booking: Booking
    token: str
    """The manage link's token. Only its hash is stored; a repeat recovers it with its key."""
    created: bool
    """False for a repeat of an earlier request with the same idempotency key."""
    event: BookingEvent
    """The ``BOOKED`` event; for a repeat, the one the first request committed (nothing was
    staged again)."""


@dataclass(frozen=True, slots=True)
class Changed:
    """What a change of an existing booking (cancel, move, status) answers."""

    booking: Booking
    """The booking as the change leaves it."""
    event: BookingEvent | None
    """What was committed; ``None`` when there was nothing to change (already so)."""


@dataclass(frozen=True, slots=True)
class ClientDetails:
    """Who a booking is for, as the request gives them: name, e-mail address, phone. Not the
    client's history (:class:`~parlour.services.clients.service.ClientHistory`)."""

    name: str
    email: str
    phone: str

    @classmethod
    def from_fields(cls, fields: Mapping[str, str], *, by: Actor = Actor.CLIENT) -> ClientDetails:
        """The client a form names, or every problem at once. The public gives a name, an
        e-mail address and a phone number; staff booking by phone need no e-mail address."""
        problems: dict[str, str] = {}
        name = " ".join(fields.get("name", "").split())
        if not name:
            problems["name"] = "Enter your name."
        elif len(name) > MAX_NAME:
            problems["name"] = f"Keep the name under {MAX_NAME} characters."
        elif hidden_characters(fields.get("name", "")):  # before split() turns CR into a space
            problems["name"] = HIDDEN
        email = ""
        if by is Actor.CLIENT or fields.get("email", "").strip():
            try:  # kept as typed: the envelope and the limits derive their own forms from it
                email = parse_email(fields.get("email", "")).typed
            except InvalidInput as exc:
                problems.update(exc.fields)
        phone = fields.get("phone", "").strip()
        if not _PHONE.fullmatch(phone) or sum(c.isdigit() for c in phone) < 5:
            problems["phone"] = "Enter a phone number, like 07700 900123."
        if problems:
            raise InvalidInput(problems)
        return cls(name, email, phone)


@dataclass(frozen=True, slots=True)
class BookRequest:
    """A booking to make, parsed once by its adapter (web form, API, staff desk, demo)."""

    treatment_id: str
    start: datetime
    """Aware; the engine reads it in UTC."""
    client: ClientDetails
    resource: str | None = None
    """A therapist or room, or ``None`` for anyone able."""
    idempotency_key: str = ""
    by: Actor = Actor.CLIENT
    squeeze: bool = False
    """Staff only, confirmed by them: book outside opening hours or off the slot grid (a
    walk-in, a squeeze-in). The unit claims still decide, so it cannot double-book."""

    @classmethod
    def from_fields(
        cls, fields: Mapping[str, str], *, idempotency_key: str = "", by: Actor = Actor.CLIENT
    ) -> BookRequest:
        """A form's fields (treatment, start, name, email, phone, resource), or every problem
        with them at once (``InvalidInput``)."""
        problems: dict[str, str] = {}
        client, start = None, None
        try:
            client = ClientDetails.from_fields(fields, by=by)
        except InvalidInput as exc:
            problems.update(exc.fields)
        try:
            start = parse_start(fields.get("start", ""))
        except InvalidInput as exc:
            problems.update(exc.fields)
        if len(idempotency_key) > 200:
            problems["idempotency_key"] = "Keep the idempotency key under 200 characters."
        if problems or client is None or start is None:
            raise InvalidInput(problems)
        resource = fields.get("resource", "").strip()
        return cls(
            fields.get("treatment", ""), start, client, resource or None, idempotency_key, by
        )


def event_by(staff: bool) -> Actor:
    """Who a change is made by: staff, or the client."""
    return Actor.STAFF if staff else Actor.CLIENT
