"""Changes of an existing booking: a cancellation, a status change, a move. Each reads the
booking's record, checks what the change may do, and commits the new record expecting the one it
read, with the unit claims the change takes or releases (services.bookings.claims); a lost race
reads again, up to :data:`~parlour.services.bookings.commit.ATTEMPTS` times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.events import BookingEvent, Change
from parlour.errors import Conflict, InvalidInput, NotFound, SlotTaken
from parlour.services.bookings.availability import DayReader
from parlour.services.bookings.claims import move_claims, status_claims
from parlour.services.bookings.commit import ATTEMPTS, Committer
from parlour.services.bookings.keys import booking_key
from parlour.services.bookings.records import (
    Changed,
    ClientDetails,
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

    async def amend(self, booking: Booking, amendment: Amendment, *, by_client: bool) -> Changed:
        """Move a booking, change its therapist, treatment or client details, atomically. A
        client may only move it (before the cut-off); staff may change the rest, and with
        ``squeeze`` place it outside opening hours. The unit claims decide either way."""
        if by_client and (amendment.treatment_id or amendment.client or amendment.squeeze):
            raise Conflict("Only the salon can change that; please call us.")
        business = await self._catalogue.business()
        resources = await self._catalogue.resources()
        for _ in range(ATTEMPTS):
            current = await self._store.get_item(booking_key(booking.id))
            if current is None:
                raise NotFound("There is no such booking.")
            stored = booking_from_json(current)
            treatment = await self._catalogue.treatment(
                amendment.treatment_id or stored.treatment_id
            )
            start = utc_instant(amendment.start) if amendment.start else stored.start
            keep, requested = _intent(stored, amendment.resource)
            # Only the client's details (or nothing) change: no time to check, any status.
            in_place = (start, treatment.id) == (stored.start, stored.treatment_id) and keep in (
                "",
                stored.resource_id,
            )
            if by_client:
                await self._check_client_may_change(stored)
            elif stored.status is not Status.CONFIRMED and not in_place:
                raise Conflict("Only a confirmed booking can be moved or changed.")
            if in_place:
                resource = stored.resource_id
            elif amendment.squeeze:
                resource = self._squeezed(treatment, resources, stored, start, keep)
            else:
                slots = await self._reader.slots(
                    business,
                    treatment,
                    resources,
                    start.astimezone(business.rules.zone).date(),
                    stored,
                    not by_client,
                )
                slot = next((s for s in slots if s.start == start), None)
                able = [r for r in (slot.resource_ids if slot else ()) if keep in ("", r)]
                if not able:
                    check_offered(
                        business,
                        treatment,
                        resources,
                        start.astimezone(business.rules.zone).date(),
                        start,
                        keep,
                        staff=not by_client,
                        now=self._clock(),
                    )
                    raise SlotTaken(_busy(resources, keep), nearest(slots, start, keep))
                resource = stored.resource_id if stored.resource_id in able else able[0]
            now = self._clock()
            client = amendment.client
            changed = stored.revised(
                now,
                start=start,
                resource_id=resource,
                requested=requested,
                treatment_id=treatment.id,
                treatment_name=treatment.name,
                price=treatment.price if treatment.id != stored.treatment_id else stored.price,
                duration=stored.duration if in_place else treatment.duration,
                buffer_before=stored.buffer_before if in_place else treatment.buffer_before,
                buffer_after=stored.buffer_after if in_place else treatment.buffer_after,
                **(
                    {"client_name": client.name, "email": client.email, "phone": client.phone}
                    if client
                    else {}
                ),
            )
            if replace(changed, sequence=stored.sequence, updated_at=stored.updated_at) == stored:
                return Changed(stored, None)  # nothing to change
            event = BookingEvent(Change.MOVED, changed, stored, event_by(not by_client), now)
            if await self._move(event, current, business.rules, claims=not in_place):
                return Changed(changed, event)
            if amendment.squeeze and await self._store.get_item(booking_key(stored.id)) == current:
                # The record is as read, so a unit claim refused: the time is someone else's.
                name = next((r.name for r in resources if r.id == resource), resource)
                raise SlotTaken(f"{name} has another booking then. Choose another time.", [])
        raise Conflict("That day kept changing; please try again.")

    def _squeezed(
        self,
        treatment: Treatment,
        resources: Sequence[Resource],
        stored: Booking,
        start: datetime,
        keep: str,
    ) -> str:
        """The resource a squeeze-in goes to: the one chosen, else the booking's own."""
        resource = keep or stored.resource_id
        if resource not in treatment.resource_ids:
            raise InvalidInput(
                {"resource": "That therapist does not do this treatment. Choose another."}
            )
        if start != stored.start and start < self._clock() - timedelta(minutes=5):
            raise InvalidInput({"start": "That time has passed. Choose a time from now on."})
        return resource

    async def _move(
        self, event: BookingEvent, current: Any, rules: BookingRules, *, claims: bool = True
    ) -> bool:
        stored, moved = event.before, event.booking
        assert stored is not None  # a move has a before
        key = booking_key(moved.id)
        record = Staged({key: booking_to_json(moved)}, expect={key: current})
        if not claims:  # the same time on the same resource: only the record changes
            return await self._commit(event, record)
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


@dataclass(frozen=True, slots=True)
class Amendment:
    """What a change of an existing booking asks for; ``None`` keeps what the booking has."""

    start: datetime | None = None
    resource: str | None = None
    """``None``: keep what the booking asked for; ``""``: anyone free; else that resource."""
    treatment_id: str | None = None
    client: ClientDetails | None = None
    squeeze: bool = False
    """Staff's confirmed override: outside opening hours or off the slot grid."""


def _intent(stored: Booking, resource: str | None) -> tuple[str, bool]:
    """The resource a change must land on ("" for any able) and whether it was asked for by
    name: a booking that named its therapist keeps them unless the change names another."""
    if resource is None:
        return (stored.resource_id if stored.requested else ""), stored.requested
    return resource, bool(resource)


def _busy(resources: Sequence[Resource], resource: str) -> str:
    if not resource:
        return "That time is not free. Here are other times that day."
    name = next((r.name for r in resources if r.id == resource), resource)
    return f"{name} is not free at that time. Here are {name}'s free times that day."
