"""What a business offers: treatments, the resources that perform them, and its booking rules."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from parlour.domain.schedule import Schedule

UNIT_MINUTES = 5
"""Durations and buffers are whole multiples of this; bookings claim time in these units."""


@dataclass(frozen=True, slots=True)
class Treatment:
    id: str
    name: str
    duration: int
    """Minutes the client is with the therapist."""
    price: int
    """In minor units (pence, cents)."""
    resource_ids: tuple[str, ...]
    """The therapists or rooms that can perform it."""
    description: str = ""
    category: str = ""
    buffer_before: int = 0
    """Minutes of preparation the resource needs first."""
    buffer_after: int = 0
    """Minutes of clearing up the resource needs afterwards."""
    active: bool = True


@dataclass(frozen=True, slots=True)
class Resource:
    id: str
    name: str
    schedule: Schedule
    kind: str = "therapist"
    active: bool = True
    email: str = ""
    """Where staff alerts of this therapist's bookings go (PARLOUR_THERAPIST_ALERTS); empty:
    none."""


@dataclass(frozen=True, slots=True)
class BookingRules:
    """The business's policy, in its own time zone."""

    timezone: str = "Europe/London"
    slot_step: int = 15
    """Minutes between the start times offered."""
    min_notice: int = 120
    """Minutes ahead a booking must at least be made."""
    horizon_days: int = 60
    """How far ahead bookings open."""
    cancel_cutoff_hours: int = 24
    """Clients may cancel or move a booking until this many hours before it starts."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
