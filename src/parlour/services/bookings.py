"""Bookings: availability, booking without double-booking, the manage link, and staff changes.

Keys in the ``bookings`` namespace:

    b:<id>                   the booking
    u:<resource>:<unit>      a 5-minute unit the resource is busy, holding the booking's id
    d:<date>:<resource>      a local day's bookings, cancelled too (services.booking_index)
    t:<sha256 of token>      the manage link's token -> booking id (the token is never stored)
    i:<sha256 of key>        an idempotency key -> booking id and the token masked with a pad
                             only the key opens, for a day: a repeat gets the same answer

Every command (a booking, public or staff; a cancellation; a client's reschedule; a staff move;
a status change) is one ``transact``, built by :meth:`BookingService._commit`: the change, its
day index merged in (no expectation), the client index's merges (services.client_index), and
whatever the ``stage`` hook adds for the command's :class:`~parlour.domain.events.BookingEvent`
(its messages), so all commit or none does.

Only claims decide: a booking commits only if every unit its treatment and buffers occupy is
free (expected absent), a change only if the booking's record is as read. Two requests for
overlapping times, on any number of instances, cannot both succeed: one atomic step on Redis (a
Lua script over one hash slot), SQLite or PostgreSQL (one transaction) decides; requests for
different times never contend.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from parlour.domain.addresses import parse_email
from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.events import Actor, BookingEvent, Change
from parlour.domain.schedule import local_day_bounds
from parlour.domain.slots import (
    Slot,
    available_slots,
    booking_window,
    occupied_span,
    slot_at,
    units_between,
)
from parlour.errors import Conflict, CorruptValue, InvalidInput, NotFound, SlotTaken
from parlour.services.availability_cache import DayCache, DayList
from parlour.services.booking_index import day_key, ids_of, index_change, upgrade_legacy_days
from parlour.services.booking_records import (
    Booked,
    BookRequest,
    Changed,
    Client,
    Stage,
    booking_from_json,
    booking_to_json,
    in_range,
    parse_start,
    utc_instant,
)
from parlour.services.booking_rules import check_offered, check_window, nearest, rules_for
from parlour.services.catalogue import Business, CatalogueService
from parlour.services.client_index import index_change as client_change
from parlour.services.outbox_records import Staged
from parlour.services.relay import RelayFeatures
from parlour.storage.base import ABSENT, DELETE, KVStore
from parlour.tokens import b64decode, b64encode, sha256_hex, xor

__all__ = [
    "BookRequest",
    "Booked",
    "BookingService",
    "Changed",
    "Client",
    "Stage",
    "booking_from_json",
    "booking_to_json",
    "in_range",
    "parse_start",
    "utc_instant",
]

ATTEMPTS = 8
UNDELIVERABLE = (
    "We cannot send e-mail to an address with letters like é before the @. "
    "Please give another address."
)
IDEMPOTENCY_TTL = 24 * 3600.0


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
        self._stage = stage
        self._days = days
        """This process's copy of day lists (services.availability_cache); ``None``: none."""
        self._claiming: Counter[str] = Counter()
        """The unit claims this process's requests are committing right now, with how many."""
        self._relay = relay or RelayFeatures()
        """What this process's SMTP relay offers; with none, what needs SMTPUTF8 is refused."""

    async def _commit(
        self, event: BookingEvent, change: Staged, *, ttl: Mapping[str, float] | None = None
    ) -> bool:
        """One atomic step: the change and whatever the ``stage`` hook adds for ``event``
        (its messages), so both commit or neither does, and the client index's merges. Called
        once per attempt: a retry stages afresh."""
        if self._stage is not None:
            change = change + await self._stage(event)
        change = change + client_change(event.before, event.booking)
        try:
            done = await self._transact(change, ttl)
        except CorruptValue:  # a day an older version stored as an array: upgrade, try again
            if not await upgrade_legacy_days(self._store, list(change.merge)):
                raise
            done = await self._transact(change, ttl)
        if done and self._days is not None:  # read what this process wrote, before its event
            self._days.forget([*change.writes, *change.merge])
        return done

    async def _transact(self, change: Staged, ttl: Mapping[str, float] | None) -> bool:
        return await self._store.transact(
            change.writes, expect=change.expect, ttl=ttl, merge=change.merge or None
        )

    # -- availability ----------------------------------------------------------------------

    async def availability(
        self,
        treatment_id: str,
        day: date,
        *,
        ignoring: Booking | None = None,
        staff: bool = False,
    ) -> tuple[Treatment, list[Slot]]:
        """Free start times of a treatment on a local day. Reads that day's units and nothing
        else; ``ignoring`` a booking frees its own time (rescheduling it)."""
        business = await self._catalogue.business()
        treatment = await self._catalogue.treatment(treatment_id)
        resources = await self._catalogue.resources()
        return treatment, await self._slots(business, treatment, resources, day, ignoring, staff)

    async def _slots(
        self,
        business: Business,
        treatment: Treatment,
        resources: Sequence[Resource],
        day: date,
        ignoring: Booking | None,
        staff: bool,
    ) -> list[Slot]:
        rules = rules_for(business, staff)
        today = self._clock().astimezone(rules.zone).date()
        if not today - timedelta(days=1) <= day <= today + timedelta(days=rules.horizon_days + 1):
            return []  # nothing to offer, and nothing to read (year 9999 has no day after it)
        capable = [r.id for r in resources if r.id in treatment.resource_ids]
        if self._days is not None and ignoring is None:
            return await self._kept_slots(business, treatment, resources, day, staff, capable)
        occupied = await self._occupied(day, capable, ignoring)
        return available_slots(treatment, resources, day, rules, occupied, self._clock())

    async def _occupied(
        self, day: date, capable: Sequence[str], ignoring: Booking | None, *, fresh: bool = False
    ) -> dict[str, set[int]]:
        """The units each resource's bookings of ``day`` (and of the days either side: buffers
        that cross midnight) keep busy, without ``ignoring``'s own; if ``fresh``, read from the
        store, never from this process's copy.

        The day's lists and records, written in the same step as the unit claims, say the same
        as the claims in far fewer keys (a busy day: 30 lists and a record per booking, not
        4,320 units). The claims stay the judge: a booking commits only if every unit it needs
        is free."""
        if self._days is not None and ignoring is None and not fresh:
            kept = await self._days.days(self._lists_near(day, capable), self._day_lists)
            return _busy(kept.values(), capable)
        near = (
            await self._bookings_of(self._lists_near(day, capable))
            if fresh
            else await self._bookings_near(day, capable)
        )
        occupied: dict[str, set[int]] = {resource: set() for resource in capable}
        for booking in near:
            if booking.holds_time and (ignoring is None or booking.id != ignoring.id):
                occupied[booking.resource_id].update(booking.units)
        return occupied

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
        check_window(start, rules, self._clock())
        day = start.astimezone(business.rules.zone).date()
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
                else await self._occupied(day, capable, None, fresh=attempt > 0)
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
                raise SlotTaken(
                    "This time was just taken. Here are other times that day.",
                    nearest(slots, start, wanted),
                )
            untried = _preferred_then_spread(candidates)
            while untried:
                resource = self._least_contended(untried, held)
                untried.remove(resource)
                booked = await self._claim(treatment, resource, start, day, request)
                if booked is not None:
                    return booked
            if key:  # a parallel double submit may have won with the same key
                repeat = await self._repeat(key, treatment, start, request.client)
                if repeat is not None:
                    return repeat
        raise Conflict("Bookings for that day are changing too fast; please try again.")

    async def _claim(
        self,
        treatment: Treatment,
        resource: str,
        start: datetime,
        day: date,
        request: BookRequest,
    ) -> Booked | None:
        client, idempotency_key, staff = (
            request.client,
            request.idempotency_key,
            (request.by is Actor.STAFF),
        )
        raw_token = secrets.token_bytes(24)
        token = b64encode(raw_token)
        booking = Booking(
            id=f"b_{secrets.token_hex(8)}",
            treatment_id=treatment.id,
            treatment_name=treatment.name,
            resource_id=resource,
            start=start,
            duration=treatment.duration,
            buffer_before=treatment.buffer_before,
            buffer_after=treatment.buffer_after,
            price=treatment.price,
            client_name=client.name,
            email=client.email,
            phone=client.phone,
            status=Status.CONFIRMED,
            created_at=self._clock(),
            token_hash=sha256_hex(token),
        )
        units = [_unit(resource, unit) for unit in booking.units]
        writes: dict[str, Any] = {
            **dict.fromkeys(units, booking.id),
            f"b:{booking.id}": booking_to_json(booking),
            f"t:{booking.token_hash}": booking.id,
        }
        expect: dict[str, Any] = {
            **dict.fromkeys(units, ABSENT),
            f"b:{booking.id}": ABSENT,
            f"t:{booking.token_hash}": ABSENT,
        }
        ttl = {}
        if idempotency_key:
            key = f"i:{sha256_hex(idempotency_key)}"
            masked = b64encode(xor(raw_token, _pad(idempotency_key, len(raw_token))))
            writes[key] = {"booking": booking.id, "token": masked, "by": event_by(staff).value}
            expect[key] = ABSENT
            ttl[key] = IDEMPOTENCY_TTL
        event = BookingEvent(
            Change.BOOKED,
            booking,
            None,
            event_by(staff),
            booking.created_at,
            token,
        )
        index = index_change(booking.id, add=[day_key(day, resource)])
        self._claiming.update(units)
        try:
            if not await self._commit(event, Staged(writes, expect=expect) + index, ttl=ttl):
                return None
        finally:
            self._claiming -= Counter(units)  # and drops those no request claims any more
        return Booked(booking, token, True, event)

    def _least_contended(self, untried: Sequence[str], units: range) -> str:
        """The first of ``untried`` whose time no other request of this process is claiming
        right now, else the first: requests racing for one time on "anyone free" spread over
        the therapists able to do it, instead of queueing behind the same one (each loss costs
        a commit). Only an order: the claims still decide."""
        for resource in untried:
            if not any(_unit(resource, unit) in self._claiming for unit in units):
                return resource
        return untried[0]

    async def _repeat(
        self, idempotency_key: str, treatment: Treatment, start: datetime, client: Client
    ) -> Booked | None:
        record = await self._store.get_item(f"i:{sha256_hex(idempotency_key)}")
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
        masked = b64decode(record["token"]) or b""  # written by _claim: always base64
        token = b64encode(xor(masked, _pad(idempotency_key, len(masked))))
        by = Actor.STAFF if record.get("by") == Actor.STAFF.value else Actor.CLIENT
        event = BookingEvent(Change.BOOKED, booking, None, by, booking.created_at, token)
        return Booked(booking, token, False, event)

    # -- reading ---------------------------------------------------------------------------

    async def get(self, booking_id: str) -> Booking:
        data = await self._store.get_item(f"b:{booking_id[:64]}")
        if data is None:
            raise NotFound("There is no such booking.")
        return booking_from_json(data)

    async def by_token(self, token: str) -> Booking:
        """The booking a manage link opens; ``NotFound`` for any token that is not one."""
        if not 16 <= len(token) <= 64:
            raise NotFound("This link does not open a booking. Check it was copied whole.")
        booking_id = await self._store.get_item(f"t:{sha256_hex(token)}")
        if booking_id is None:
            raise NotFound("This link does not open a booking. Check it was copied whole.")
        return await self.get(str(booking_id))

    async def day(self, day: date, resource_ids: Sequence[str]) -> list[Booking]:
        """Every booking of a local day on those resources, cancelled ones included, by start."""
        return await self._bookings_of([day_key(day, r) for r in resource_ids])

    @staticmethod
    def _lists_near(day: date, resource_ids: Sequence[str]) -> list[str]:
        days = (day - timedelta(days=1), day, day + timedelta(days=1))
        return [day_key(d, r) for d in days for r in resource_ids]

    async def _bookings_near(self, day: date, resource_ids: Sequence[str]) -> list[Booking]:
        lists = self._lists_near(day, resource_ids)
        if self._days is None:
            return await self._bookings_of(lists)
        kept = await self._days.days(lists, self._day_lists)
        return list({b.id: b for entry in kept.values() for b in entry.bookings}.values())

    async def _kept_slots(
        self,
        business: Business,
        treatment: Treatment,
        resources: Sequence[Resource],
        day: date,
        staff: bool,
        capable: Sequence[str],
    ) -> list[Slot]:
        """:meth:`_slots` from the day cache: the day's slots are worked out once for the
        catalogue and day lists they come from (ignoring notice and horizon), and each request
        keeps those its own clock allows."""
        assert self._days is not None
        rules = rules_for(business, staff)
        kept = await self._days.days(self._lists_near(day, capable), self._day_lists)

        def compute() -> list[Slot]:
            occupied = _busy(kept.values(), capable)
            # With no notice and a ten-year horizon from two days before, every start of the
            # day passes the window; the real window is applied below, per request.
            before = local_day_bounds(day, rules.zone)[0] - timedelta(days=2)
            wide = replace(rules, min_notice=0, horizon_days=3650)
            return available_slots(treatment, resources, day, wide, occupied, before)

        inputs = (business, treatment, resources, *kept.values())
        every = self._days.memo((treatment.id, day, staff), inputs, compute)
        earliest, latest = booking_window(rules, self._clock())
        return [slot for slot in every if earliest <= slot.start <= latest]

    async def _day_lists(self, lists: Sequence[str]) -> dict[str, DayList]:
        assert self._days is not None
        index = await self._store.get_many(lists)
        ids = dict.fromkeys(i for day in index.values() for i in ids_of(day))
        known = self._days.records(ids)
        read = await self._store.get_many([f"b:{i}" for i in ids if i not in known])
        bookings = {**known, **{key[2:]: booking_from_json(value) for key, value in read.items()}}
        return {
            key: DayList.of(bookings[i] for i in ids_of(day) if i in bookings)
            for key, day in index.items()
        }

    async def _bookings_of(self, lists: Sequence[str]) -> list[Booking]:
        index = await self._store.get_many(lists)
        ids = dict.fromkeys(booking_id for day in index.values() for booking_id in ids_of(day))
        records = await self._store.get_many([f"b:{i}" for i in ids])
        return sorted((booking_from_json(r) for r in records.values()), key=lambda b: b.start)

    # -- changing --------------------------------------------------------------------------

    async def cancel(self, booking: Booking, *, by_client: bool) -> Changed:
        """Cancel and free its time. A client may only do so before the cut-off."""
        return await self._change(booking, by_client=by_client, status=Status.CANCELLED)

    async def set_status(self, booking: Booking, status: Status) -> Changed:
        """Staff: completed, no-show, cancelled, or back to confirmed."""
        return await self._change(booking, by_client=False, status=status)

    async def _change(self, booking: Booking, *, by_client: bool, status: Status) -> Changed:
        for _ in range(ATTEMPTS):
            current = await self._store.get_item(f"b:{booking.id}")
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
            writes: dict[str, Any] = {f"b:{stored.id}": booking_to_json(changed)}
            expect: dict[str, Any] = {f"b:{stored.id}": current}
            units = [_unit(stored.resource_id, u) for u in stored.units]
            if stored.holds_time and not changed.holds_time:
                writes.update(dict.fromkeys(units, DELETE))
                expect.update(dict.fromkeys(units, stored.id))
            elif changed.holds_time and not stored.holds_time:
                writes.update(dict.fromkeys(units, stored.id))  # reinstated: claim again
                expect.update(dict.fromkeys(units, ABSENT))
            kind = Change.CANCELLED if status is Status.CANCELLED else Change.STATUS
            event = BookingEvent(kind, changed, stored, event_by(not by_client), now)
            if await self._commit(event, Staged(writes, expect=expect)):
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
            current = await self._store.get_item(f"b:{booking.id}")
            if current is None:
                raise NotFound("There is no such booking.")
            stored = booking_from_json(current)
            if by_client:
                await self._check_client_may_change(stored)
            elif stored.status is not Status.CONFIRMED:
                raise Conflict("Only a confirmed booking can be moved.")
            treatment = await self._catalogue.treatment(stored.treatment_id)
            new_day = new_start.astimezone(business.rules.zone).date()
            slots = await self._slots(
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
        old_units = {_unit(stored.resource_id, u) for u in stored.units}
        new_units = {_unit(moved.resource_id, u) for u in moved.units}
        writes: dict[str, Any] = {f"b:{moved.id}": booking_to_json(moved)}
        expect: dict[str, Any] = {f"b:{moved.id}": current}
        for key in new_units:
            writes[key] = moved.id
            expect[key] = moved.id if key in old_units else ABSENT
        for key in old_units - new_units:
            writes[key] = DELETE
            expect[key] = moved.id
        old_day = day_key(stored.start.astimezone(rules.zone).date(), stored.resource_id)
        new_day = day_key(moved.start.astimezone(rules.zone).date(), moved.resource_id)
        index = Staged()
        if old_day != new_day:
            index = index_change(moved.id, add=[new_day], remove=[old_day])
        return await self._commit(event, Staged(writes, expect=expect) + index)

    async def _check_client_may_change(self, booking: Booking) -> None:
        rules = (await self._catalogue.business()).rules
        if booking.status is not Status.CONFIRMED:
            raise Conflict(f"This booking is {booking.status.value}, so it cannot be changed.")
        if not booking.client_may_change(self._clock(), rules.cancel_cutoff_hours):
            raise Conflict(
                f"Bookings can be changed online until {rules.cancel_cutoff_hours} hours before "
                "they start. Please call us instead."
            )


def _preferred_then_spread(candidates: Sequence[str]) -> list[str]:
    """The order "anyone free" tries: the business's first choice, then the rest shuffled, so
    that requests racing for the same time do not all queue behind the same second choice
    (each loss costs a commit)."""
    rest = list(candidates[1:])
    _SPREAD.shuffle(rest)
    return [*candidates[:1], *rest]


_SPREAD = secrets.SystemRandom()


def _busy(kept: Iterable[DayList], capable: Sequence[str]) -> dict[str, set[int]]:
    """The units the kept day lists ``kept`` hold busy, by resource of ``capable``."""
    occupied: dict[str, set[int]] = {resource: set() for resource in capable}
    for entry in kept:
        for resource, units in entry.busy.items():
            if resource in occupied:
                occupied[resource] |= units
    return occupied


def event_by(staff: bool) -> Actor:
    return Actor.STAFF if staff else Actor.CLIENT


def _pad(idempotency_key: str, length: int) -> bytes:
    return hashlib.sha256(b"manage-token\0" + idempotency_key.encode()).digest()[:length]


def _unit(resource: str, unit: int) -> str:
    return f"u:{resource}:{unit}"
