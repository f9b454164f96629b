"""A booking, its life (confirmed, then completed, cancelled or a no-show) and what a client may
still do with it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from parlour.domain.slots import UNIT_SECONDS, units_between


class Status(enum.StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no-show"


AFTER_THE_START = frozenset({Status.COMPLETED, Status.NO_SHOW})
"""What a visit can only become once it has started."""


@dataclass(frozen=True, slots=True)
class Booking:
    id: str
    treatment_id: str
    treatment_name: str
    resource_id: str
    start: datetime
    """UTC."""
    duration: int
    buffer_before: int
    buffer_after: int
    price: int
    client_name: str
    email: str
    phone: str
    status: Status
    created_at: datetime
    token_hash: str
    """SHA-256 of the manage link's token; the token itself is never stored."""
    sequence: int = 0
    """Revisions since it was made (iCalendar SEQUENCE): a calendar that imported the booking
    takes a file with a higher one as the newer version of the same event."""
    updated_at: datetime | None = None
    """When it was last moved or changed status; ``None`` until then."""
    requested: bool = False
    """Whether this therapist (or room) was asked for by name, not "anyone free": a move keeps
    it unless the mover chooses another. Older records, made before this was kept, read as
    ``False``; a move still keeps their therapist whenever they are free."""

    def revised(self, now: datetime, **changes: Any) -> Booking:
        """This booking with ``changes``, one revision later."""
        return replace(self, **changes, sequence=self.sequence + 1, updated_at=now)

    @property
    def last_modified(self) -> datetime:
        return self.updated_at or self.created_at

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.duration)

    @property
    def units(self) -> range:
        """The units this booking keeps its resource busy, buffers included."""
        if self.start.microsecond:
            return units_between(
                self.start - timedelta(minutes=self.buffer_before),
                self.end + timedelta(minutes=self.buffer_after),
            )
        # The same in whole seconds, which a start on the second makes exact: worked out for
        # every booking of every day list a look-up reloads, so without datetime arithmetic.
        start = int(self.start.timestamp())
        begin = start - 60 * self.buffer_before
        end = start + 60 * (self.duration + self.buffer_after)
        return range(begin // UNIT_SECONDS, -(-end // UNIT_SECONDS))

    @property
    def holds_time(self) -> bool:
        """Whether it still keeps its resource busy (a cancelled booking frees its time)."""
        return self.status is not Status.CANCELLED

    def client_may_change(self, now: datetime, cutoff_hours: int) -> bool:
        """Cancel or reschedule through the manage link: only a confirmed booking, before the
        cut-off."""
        return self.status is Status.CONFIRMED and now < self.start - timedelta(hours=cutoff_hours)

    def has_started(self, now: datetime) -> bool:
        """Whether the visit has begun: only then can it be marked done or a no-show."""
        return now >= self.start

    def refuses(self, status: Status, now: datetime) -> str:
        """Why this booking cannot become ``status`` now; empty if it can (as far as time
        goes: a cancelled booking's time may also have been taken since)."""
        if status in AFTER_THE_START and not self.has_started(now):
            return (
                f"A booking can be marked {status.value} only once the visit has started; "
                "this one has not started yet."
            )
        return ""

    def reviewable(self, now: datetime) -> bool:
        """A review only for a visit that has ended and was marked done."""
        return self.status is Status.COMPLETED and now >= self.end
