"""Changes of an existing booking: a cancellation, a status change, a move. Each reads the
booking's record, checks what the change may do, and commits the new record expecting the one it
read, with the unit claims the change takes or releases (services.bookings.claims); a lost race
reads again, up to :data:`~parlour.services.bookings.commit.ATTEMPTS` times.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import BookingRules
from parlour.domain.events import BookingEvent, Change
from parlour.errors import Conflict, NotFound, SlotTaken
from parlour.services.bookings.availability import DayReader
from parlour.services.bookings.claims import move_claims, status_claims
from parlour.services.bookings.commit import ATTEMPTS, Committer
from parlour.services.bookings.keys import booking_key
from parlour.services.bookings.records import (
    Changed,
    booking_from_json,
    booking_to_json,
    event_by,
    utc_instant,
)
from parlour.services.bookings.rules import check_offered, nearest
from parlour.services.catalogue import CatalogueService
from parlour.services.staged import Staged
from parlour.storage.base import KVStore


class BookingChanges:
    def __init__(
        self,
        store: KVStore,
        catalogue: CatalogueService,
        clock: Callable[[], datetime],
        reader: DayReader,
        commit: Committer,
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._clock = clock
        self._reader = reader
        self._commit = commit

    async def cancel(self, booking: Booking, *, by_client: bool) -> Changed:
        """Cancel and free its time. A client may only do so before the cut-off."""
        return await self._change(booking, by_client=by_client, status=Status.CANCELLED)

    async def set_status(self, booking: Booking, status: Status) -> Changed:
        """Staff: completed, no-show, cancelled, or back to confirmed."""
        return await self._change(booking, by_client=False, status=status)

    async def _change(self, booking: Booking, *, by_client: bool, status: Status) -> Changed:
        for _ in range(ATTEMPTS):
            current = await self._store.get_item(booking_key(booking.id))
            if current is None:
                raise NotFound("There is no such booking.")
            stored = booking_from_json(current)
            if stored.status is status:
                return Changed(stored, None)
            if by_client:
                await self._check_client_may_change(stored)
            now = self._clock()
            refusal = stored.refuses(status, now)
            if refusal:
                raise Conflict(refusal)
            changed = stored.revised(now, status=status)
            key = booking_key(stored.id)
            record = Staged({key: booking_to_json(changed)}, expect={key: current})
            kind = Change.CANCELLED if status is Status.CANCELLED else Change.STATUS
            event = BookingEvent(kind, changed, stored, event_by(not by_client), now)
            if await self._commit(event, record + status_claims(stored, changed)):
                return Changed(changed, event)
            if changed.holds_time and not stored.holds_time:
                raise SlotTaken("That time has been booked by someone else since.", [])
        raise Conflict("The booking kept changing; please try again.")

    async def reschedule(
        self, booking: Booking, new_start: datetime, *, by_client: bool
    ) -> Changed:
        """Move a booking to a new start (on any resource able to do it), atomically."""
        new_start = utc_instant(new_start)
        business = await self._catalogue.business()
        resources = await self._catalogue.resources()
        for _ in range(ATTEMPTS):
            current = await self._store.get_item(booking_key(booking.id))
            if current is None:
                raise NotFound("There is no such booking.")
            stored = booking_from_json(current)
            if by_client:
                await self._check_client_may_change(stored)
            elif stored.status is not Status.CONFIRMED:
                raise Conflict("Only a confirmed booking can be moved.")
            treatment = await self._catalogue.treatment(stored.treatment_id)
            new_day = new_start.astimezone(business.rules.zone).date()
            slots = await self._reader.slots(
                business, treatment, resources, new_day, stored, not by_client
            )
            slot = next((s for s in slots if s.start == new_start), None)
            if slot is None:
                check_offered(
                    business,
                    treatment,
                    resources,
                    new_day,
                    new_start,
                    staff=not by_client,
                    now=self._clock(),
                )
                raise SlotTaken(
                    "That time is not free. Here are other times that day.",
                    nearest(slots, new_start, ""),
                )
            resource = (
                stored.resource_id
                if stored.resource_id in slot.resource_ids
                else (slot.resource_ids[0])
            )
            now = self._clock()
            moved = stored.revised(
                now,
                start=new_start,
                resource_id=resource,
                duration=treatment.duration,
                buffer_before=treatment.buffer_before,
                buffer_after=treatment.buffer_after,
            )
            event = BookingEvent(Change.MOVED, moved, stored, event_by(not by_client), now)
            if await self._move(event, current, business.rules):
                return Changed(moved, event)
        raise Conflict("That day kept changing; please try again.")

    async def _move(self, event: BookingEvent, current: Any, rules: BookingRules) -> bool:
        stored, moved = event.before, event.booking
        assert stored is not None  # a move has a before
        key = booking_key(moved.id)
        record = Staged({key: booking_to_json(moved)}, expect={key: current})
        return await self._commit(event, record + move_claims(stored, moved, rules))

    async def _check_client_may_change(self, booking: Booking) -> None:
        rules = (await self._catalogue.business()).rules
        if booking.status is not Status.CONFIRMED:
            raise Conflict(f"This booking is {booking.status.value}, so it cannot be changed.")
        if not booking.client_may_change(self._clock(), rules.cancel_cutoff_hours):
            raise Conflict(
                f"Bookings can be changed online until {rules.cancel_cutoff_hours} hours before "
                "they start. Please call us instead."
            )
