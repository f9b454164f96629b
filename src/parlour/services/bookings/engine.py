"""Bookings: availability, booking without double-booking, the manage link, and staff changes.

:class:`BookingService` is the face the adapters call. The namespace's keys are laid out in
services.bookings.keys; what is read of a day is services.bookings.availability; the unit claims
that decide and the idempotency record, services.bookings.claims; the changes of an existing
booking (cancel, status, move), services.bookings.changes.

Every command (a booking, public or staff; a cancellation; a client's reschedule; a staff move;
a status change) is one ``transact`` (services.bookings.commit): the change, its day index
merged in (no expectation), the client index's merges (services.bookings.client_index), and
whatever the ``stage`` hook adds for the command's :class:`~parlour.domain.events.BookingEvent`
(its messages), so all commit or none does.

Only claims decide: a booking commits only if every unit its treatment and buffers occupy is
free (expected absent), a change only if the booking's record is as read. Two requests for
overlapping times, on any number of instances, cannot both succeed: one atomic step on Redis (a
Lua script over one hash slot), SQLite or PostgreSQL (one transaction) decides; requests for
different times never contend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from parlour.domain.addresses import parse_email
from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import Resource, Treatment
from parlour.domain.events import Actor, BookingEvent, Change
from parlour.domain.slots import Slot, available_slots, occupied_span, slot_at, units_between
from parlour.errors import Conflict, InvalidInput, NotFound, SlotTaken
from parlour.services.bookings.availability import DayReader
from parlour.services.bookings.changes import Amendment, BookingChanges
from parlour.services.bookings.claims import (
    Contention,
    claim,
    new_booking,
    preferred_then_spread,
    repeated,
    units_of,
)
from parlour.services.bookings.commit import ATTEMPTS, Committer
from parlour.services.bookings.day_cache import DayCache
from parlour.services.bookings.keys import booking_key, day_key, link_key, repeat_key
from parlour.services.bookings.records import (
    Booked,
    BookRequest,
    Changed,
    ClientDetails,
    Stage,
    booking_from_json,
    event_by,
    utc_instant,
)
from parlour.services.bookings.rules import check_offered, check_window, nearest, rules_for
from parlour.services.catalogue import CatalogueService
from parlour.services.outbox.relay import RelayFeatures
from parlour.storage.base import KVStore
from parlour.tokens import b64encode, sha256_hex

UNDELIVERABLE = (
    "We cannot send e-mail to an address with letters like é before the @. "
    "Please give another address."
)


def now_utc() -> datetime:
    return datetime.now(UTC)


class BookingService:
    def __init__(
        self,
        store: KVStore,
        catalogue: CatalogueService,
        *,
        clock: Callable[[], datetime] = now_utc,
        stage: Stage | None = None,
        days: DayCache | None = None,
        relay: RelayFeatures | None = None,
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._clock = clock
        self._reader = DayReader(store, clock, days)
        """Reads a day, from this process's copy of day lists (``days``) if it has one."""
        self._commit = Committer(store, stage, days)
        self._changes = BookingChanges(store, catalogue, clock, self._reader, self._commit)
        self._contention = Contention()
        self._relay = relay or RelayFeatures()
        """What this process's SMTP relay offers; with none, what needs SMTPUTF8 is refused."""

    # -- availability ----------------------------------------------------------------------

    async def availability(
        self,
        treatment_id: str,
        day: date,
        *,
        ignoring: Booking | None = None,
        staff: bool = False,
        resource: str = "",
    ) -> tuple[Treatment, list[Slot]]:
        """Free start times of a treatment on a local day. Reads that day's units and nothing
        else; ``ignoring`` a booking frees its own time (rescheduling it); with ``resource``,
        only the times that therapist or room is free, each naming only them."""
        business = await self._catalogue.business()
        treatment = await self._catalogue.treatment(treatment_id)
        resources = await self._catalogue.resources()
        slots = await self._reader.slots(business, treatment, resources, day, ignoring, staff)
        if resource:
            slots = [Slot(s.start, (resource,)) for s in slots if resource in s.resource_ids]
        return treatment, slots

    # -- making a booking ------------------------------------------------------------------

    async def book(self, request: BookRequest) -> Booked:
        """Make the booking ``request`` asks for, on its resource or any able one.

        Raises ``InvalidInput`` (a time that could never be offered), ``NotFound`` (the
        treatment), ``SlotTaken`` (with the other times of that day, read after the loss) or
        ``Conflict`` (an idempotency key reused for a different booking).
        """
        if request.client.email and not self._relay.can_deliver(parse_email(request.client.email)):
            raise InvalidInput({"email": UNDELIVERABLE})
        start, key, staff = (
            utc_instant(request.start),
            request.idempotency_key,
            (request.by is Actor.STAFF),
        )
        treatment = await self._catalogue.treatment(request.treatment_id)
        if not treatment.active:
            raise NotFound("That treatment is not offered any more.")
        if key:
            repeat = await self._repeat(key, treatment, start, request.client)
            if repeat is not None:
                return repeat
        business = await self._catalogue.business()
        resources = await self._catalogue.resources()
        rules = rules_for(business, staff)
        day = start.astimezone(business.rules.zone).date()
        if request.squeeze and staff:
            return await self._squeeze(treatment, resources, start, day, request)
        check_window(start, rules, self._clock())
        wanted = request.resource or ""
        capable = [r.id for r in resources if r.id in treatment.resource_ids]
        asked = [r for r in resources if r.id == wanted] if wanted else resources
        held = units_between(*occupied_span(treatment, start))  # on whichever resource
        for attempt in range(ATTEMPTS):
            # A named resource's claims are tried before its day is read at all: they decide
            # anyway. Otherwise the first attempt reads the day from this process's copy; after
            # a refused claim, from the store (a copy may not have heard of the winner yet), so
            # the times offered instead are those still free once the winner's claims are in.
            occupied = (
                {}
                if wanted and attempt == 0
                else await self._reader.occupied(day, capable, None, fresh=attempt > 0)
            )
            slot = slot_at(treatment, asked, day, rules, occupied, self._clock(), start)
            candidates = (
                [] if slot is None else [r for r in slot.resource_ids if not wanted or r == wanted]
            )
            if not candidates:
                check_offered(
                    business,
                    treatment,
                    resources,
                    day,
                    start,
                    wanted,
                    staff=staff,
                    now=self._clock(),
                )
                slots = available_slots(treatment, resources, day, rules, occupied, self._clock())
                raise SlotTaken(_refusal(resources, wanted, staff), nearest(slots, start, wanted))
            untried = preferred_then_spread(candidates)
            while untried:
                resource = self._contention.least_contended(untried, held)
                untried.remove(resource)
                booked = await self._claim(treatment, resource, start, day, request)
                if booked is not None:
                    return booked
            if key:  # a parallel double submit may have won with the same key
                repeat = await self._repeat(key, treatment, start, request.client)
                if repeat is not None:
                    return repeat
        raise Conflict("Bookings for that day are changing too fast; please try again.")

    async def _squeeze(
        self,
        treatment: Treatment,
        resources: Sequence[Resource],
        start: datetime,
        day: date,
        request: BookRequest,
    ) -> Booked:
        """Staff's override: any start, inside opening hours or not, on the named resource or
        the first able one free then. Only the unit claims decide, as for every booking."""
        now = self._clock()
        if start < now - SQUEEZE_GRACE:
            raise InvalidInput({"start": "That time has passed. Choose a time from now on."})
        check_window(max(start, now), rules_for(await self._catalogue.business(), True), now)
        able = [r.id for r in resources if r.active and r.id in treatment.resource_ids]
        wanted = request.resource or ""
        if wanted and wanted not in able:
            raise InvalidInput(
                {"resource": "That therapist does not do this treatment. Choose another."}
            )
        for resource in [wanted] if wanted else able:
            booked = await self._claim(treatment, resource, start, day, request)
            if booked is not None:
                return booked
        who = _name(resources, wanted) if wanted else "Every therapist able to do it"
        raise SlotTaken(f"{who} has another booking then. Choose another time or therapist.", [])

    async def _claim(
        self,
        treatment: Treatment,
        resource: str,
        start: datetime,
        day: date,
        request: BookRequest,
    ) -> Booked | None:
        by = event_by(request.by is Actor.STAFF)
        booking, raw_token = new_booking(
            treatment,
            resource,
            start,
            request.client,
            self._clock(),
            requested=bool(request.resource),
        )
        change, ttl = claim(booking, raw_token, day_key(day, resource), request.idempotency_key, by)
        token = b64encode(raw_token)
        event = BookingEvent(Change.BOOKED, booking, None, by, booking.created_at, token)
        with self._contention.claiming(units_of(booking)):
            if not await self._commit(event, change, ttl=ttl):
                return None
        return Booked(booking, token, True, event)

    async def _repeat(
        self, idempotency_key: str, treatment: Treatment, start: datetime, client: ClientDetails
    ) -> Booked | None:
        record = await self._store.get_item(repeat_key(idempotency_key))
        if record is None:
            return None
        booking = await self.get(str(record["booking"]))
        # Case-folded: an older version stored the address folded, and a retry types it anew.
        if (booking.treatment_id, booking.start, booking.email.casefold()) != (
            treatment.id,
            start,
            client.email.casefold(),
        ):
            raise Conflict("That idempotency key was already used for a different booking.")
        token, by = repeated(record, idempotency_key)
        event = BookingEvent(Change.BOOKED, booking, None, by, booking.created_at, token)
        return Booked(booking, token, False, event)

    # -- reading ---------------------------------------------------------------------------

    async def get(self, booking_id: str) -> Booking:
        data = await self._store.get_item(booking_key(booking_id[:64]))
        if data is None:
            raise NotFound("There is no such booking.")
        return booking_from_json(data)

    async def by_token(self, token: str) -> Booking:
        """The booking a manage link opens; ``NotFound`` for any token that is not one."""
        if not 16 <= len(token) <= 64:
            raise NotFound("This link does not open a booking. Check it was copied whole.")
        booking_id = await self._store.get_item(link_key(sha256_hex(token)))
        if booking_id is None:
            raise NotFound("This link does not open a booking. Check it was copied whole.")
        return await self.get(str(booking_id))

    async def day(self, day: date, resource_ids: Sequence[str]) -> list[Booking]:
        """Every booking of a local day on those resources, cancelled ones included, by start."""
        return await self._reader.bookings_of([day_key(day, r) for r in resource_ids])

    # -- changing --------------------------------------------------------------------------

    async def cancel(self, booking: Booking, *, by_client: bool) -> Changed:
        """Cancel and free its time. A client may only do so before the cut-off."""
        return await self._changes.cancel(booking, by_client=by_client)

    async def set_status(self, booking: Booking, status: Status) -> Changed:
        """Staff: completed, no-show, cancelled, or back to confirmed."""
        return await self._changes.set_status(booking, status)

    async def reschedule(
        self,
        booking: Booking,
        new_start: datetime,
        *,
        by_client: bool,
        resource: str | None = None,
    ) -> Changed:
        """Move a booking to a new start, atomically. ``resource``: ``None`` keeps what the
        booking asked for (its therapist if it named one, else whoever is free, its own first);
        ``""`` anyone free; an id, that therapist or room (then asked for by name)."""
        return await self._changes.amend(
            booking, Amendment(start=new_start, resource=resource), by_client=by_client
        )

    async def amend(self, booking: Booking, amendment: Amendment) -> Changed:
        """Staff: change a booking's time, therapist, treatment or client details at once
        (:class:`~parlour.services.bookings.changes.Amendment`), atomically."""
        return await self._changes.amend(booking, amendment, by_client=False)


SQUEEZE_GRACE = timedelta(minutes=5)
"""How far in the past a squeeze-in may start: a walk-in starts now, rounded to the minute."""


def _name(resources: Sequence[Resource], resource_id: str) -> str:
    return next((r.name for r in resources if r.id == resource_id), resource_id)


def _refusal(resources: Sequence[Resource], wanted: str, staff: bool) -> str:
    """Why a listed-looking time was refused: staff naming a therapist learn it is that
    therapist who is busy (the time may be free with others, so "just taken" would mislead)."""
    if staff and wanted:
        name = _name(resources, wanted)
        return f"{name} is not free at that time. Here are {name}'s free times that day."
    return "This time was just taken. Here are other times that day."
