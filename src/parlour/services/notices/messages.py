"""What each message says, as typed data: stored in the outbox, rendered when it is sent.

Templates see these and nothing else: no service, no store. A message carries the business as
it was when the message was made (its name, contact and time zone), so a message says the same
whichever instance renders it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parlour.domain.booking import Booking
from parlour.services.bookings.records import booking_from_json, booking_to_json
from parlour.services.catalogue import Business, business_from_json, business_to_json


class Kind(enum.StrEnum):
    CONFIRMATION = "confirmation"
    REMINDER = "reminder"
    MOVED = "moved"
    CANCELLED = "cancelled"
    REVIEW_INVITATION = "review_invitation"
    STAFF_NEW = "staff_new"
    STAFF_MOVED = "staff_moved"
    STAFF_CANCELLED = "staff_cancelled"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a kind of message, not a password
    SALON_WELCOME = "salon_welcome"
    """A new salon's owner confirms the address and opens the salon (services/signup.py)."""
    TEST = "test"


BOOKING_KINDS = frozenset(Kind) - {Kind.PASSWORD_RESET, Kind.SALON_WELCOME, Kind.TEST}
CLIENT_KINDS = frozenset(
    {Kind.CONFIRMATION, Kind.REMINDER, Kind.MOVED, Kind.CANCELLED, Kind.REVIEW_INVITATION}
)
WITH_CALENDAR = frozenset({Kind.CONFIRMATION, Kind.MOVED, Kind.CANCELLED})
"""Messages that carry the booking's .ics, so the client's calendar follows the booking."""


@dataclass(frozen=True, slots=True)
class BookingNotice:
    """A message about one booking: to the client, or an alert to staff."""

    kind: Kind
    business: Business
    booking: Booking
    therapist: str
    """The name of the therapist or room."""
    link: str
    """Sealed (services.sealing): the client's manage link, or staff's page of the booking."""
    previous_start: datetime | None = None
    """Where a moved booking was before (UTC); ``None`` if its time did not change."""
    previous_therapist: str = ""
    """Who a changed booking was with before, if that changed; empty if it did not."""


@dataclass(frozen=True, slots=True)
class PasswordReset:
    business: Business
    email: str
    link: str
    """Sealed: the single-use reset link."""
    valid_minutes: int


@dataclass(frozen=True, slots=True)
class SalonWelcome:
    business: Business
    """The platform's own (its name signs the message)."""
    email: str
    salon: str
    """The new salon's name."""
    address: str
    """Where it will be served (``https://maya.example.net``)."""
    link: str
    """Sealed: the single-use link that opens the salon."""
    valid_hours: int


@dataclass(frozen=True, slots=True)
class ProbeMessage:
    business: Business
    sent_by: str
    """Who asked for it (the command line, an admin)."""


MessageData = BookingNotice | PasswordReset | SalonWelcome | ProbeMessage


def kind_of(data: MessageData) -> Kind:
    if isinstance(data, BookingNotice):
        return data.kind
    if isinstance(data, SalonWelcome):
        return Kind.SALON_WELCOME
    return Kind.PASSWORD_RESET if isinstance(data, PasswordReset) else Kind.TEST


def to_json(data: MessageData) -> dict[str, Any]:
    business = business_to_json(data.business)
    if isinstance(data, BookingNotice):
        previous = data.previous_start.isoformat() if data.previous_start else None
        return {
            "kind": data.kind.value,
            "business": business,
            "booking": booking_to_json(data.booking),
            "therapist": data.therapist,
            "link": data.link,
            "previous_start": previous,
            "previous_therapist": data.previous_therapist,
        }
    if isinstance(data, PasswordReset):
        return {
            "kind": Kind.PASSWORD_RESET.value,
            "business": business,
            "email": data.email,
            "link": data.link,
            "valid_minutes": data.valid_minutes,
        }
    if isinstance(data, SalonWelcome):
        return {
            "kind": Kind.SALON_WELCOME.value,
            "business": business,
            "email": data.email,
            "salon": data.salon,
            "address": data.address,
            "link": data.link,
            "valid_hours": data.valid_hours,
        }
    return {"kind": Kind.TEST.value, "business": business, "sent_by": data.sent_by}


def from_json(raw: Mapping[str, Any]) -> MessageData:
    kind = Kind(raw["kind"])
    business = business_from_json(dict(raw["business"]))
    if kind is Kind.PASSWORD_RESET:
        return PasswordReset(business, raw["email"], raw["link"], int(raw["valid_minutes"]))
    if kind is Kind.SALON_WELCOME:
        return SalonWelcome(
            business,
            raw["email"],
            raw["salon"],
            raw["address"],
            raw["link"],
            int(raw["valid_hours"]),
        )
    if kind is Kind.TEST:
        return ProbeMessage(business, raw["sent_by"])
    previous = raw.get("previous_start")
    return BookingNotice(
        kind=kind,
        business=business,
        booking=booking_from_json(raw["booking"]),
        therapist=raw["therapist"],
        link=raw["link"],
        previous_start=datetime.fromisoformat(previous) if previous else None,
        previous_therapist=str(raw.get("previous_therapist") or ""),
    )
