"""What happened to a booking: the typed events the booking engine's commands produce.

Every command (a public or staff booking, a cancellation, a client's reschedule, a staff move, a
status change) commits in one atomic step and yields one :class:`BookingEvent`. Whatever must
happen because of it (a confirmation, a reminder, a staff alert) is staged into that same step
by the engine's ``stage`` hook, so it commits with the change or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from parlour.domain.booking import Booking


class Change(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    MOVED = "moved"
    STATUS = "status"
    """Any other status change: done, no-show, or reinstated as confirmed."""


class Actor(StrEnum):
    CLIENT = "client"
    STAFF = "staff"


@dataclass(frozen=True, slots=True)
class BookingEvent:
    change: Change
    booking: Booking
    """The booking as the change leaves it."""
    before: Booking | None
    """The booking as it was; ``None`` for a new one."""
    by: Actor
    at: datetime
    token: str = ""
    """The manage link's token, known only to the command that made the booking (only its hash
    is stored); empty for every other change."""
