"""Bookings: availability, booking without double-booking, the manage link, and staff changes.

Keys in the ``bookings`` namespace:

    b:<id>                   the booking
    u:<resource>:<unit>      a 5-minute unit the resource is busy, holding the booking's id
    d:<date>:<resource>      the ids of the bookings of a local day (cancelled ones too)
    t:<sha256 of token>      the manage link's token -> booking id (the token is never stored)
    i:<sha256 of key>        an idempotency key -> booking id and the token masked with a pad
                             only the key opens, for a day: a repeat gets the same answer

A booking is one ``transact``: it claims every unit its treatment and buffers occupy, and writes
its record, token and day list, only if every unit is free and the day list is as read. Two
requests for overlapping times, on any number of instances, cannot both succeed: one atomic step
on Redis (a Lua script over one hash slot) or SQLite (one transaction) decides.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.slots import Slot, available_slots
from parlour.domain.text import HIDDEN, hidden_characters
from parlour.errors import Conflict, InvalidInput, NotFound, SlotTaken
from parlour.services.accounts import check_email
from parlour.services.catalogue import Business, CatalogueService
from parlour.storage.base import ABSENT, DELETE, KVStore
from parlour.tokens import b64decode, b64encode, sha256_hex, xor

ATTEMPTS = 8
IDEMPOTENCY_TTL = 24 * 3600.0
_PHONE = re.compile(r"[+()0-9 .-]{5,30}")


def now_utc() -> datetime:
    return datetime.now(UTC)


def booking_to_json(booking: Booking) -> dict[str, Any]:
    data = asdict(booking)
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


def parse_start(text: str) -> datetime:
    """An ISO 8601 instant with its offset (``2026-12-01T10:00:00Z``); naive times are refused,
    since a time without a zone is ambiguous twice a year."""
    try:
        start = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput({"start": "Give the time like 2026-12-01T10:00:00+00:00."}) from exc
    if start.tzinfo is None:
        raise InvalidInput({"start": "Give the time with its offset, like +00:00."})
    return start.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Booked:
    booking: Booking
    token: str
    """The manage link's token. Only its hash is stored; a repeat recovers it with its key."""
    created: bool


@dataclass(frozen=True, slots=True)
class Client:
    name: str
    email: str
    phone: str

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Client:
        problems: dict[str, str] = {}
        name = " ".join(fields.get("name", "").split())
        if not name:
            problems["name"] = "Enter your name."
        elif len(name) > 100:
            problems["name"] = "Keep the name under 100 characters."
        elif hidden_characters(fields.get("name", "")):  # before split() turns CR into a space
            problems["name"] = HIDDEN
        try:
            email = check_email(fields.get("email", ""))
        except InvalidInput:
            problems["email"] = "Enter an e-mail address like name@example.com."
            email = ""
        phone = fields.get("phone", "").strip()
        if not _PHONE.fullmatch(phone) or sum(c.isdigit() for c in phone) < 5:
            problems["phone"] = "Enter a phone number, like 07700 900123."
        if problems:
            raise InvalidInput(problems)
        return cls(name, email, phone)


class BookingService:
    def __init__(
        self,
        store: KVStore,
        catalogue: CatalogueService,
        *,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._clock = clock

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
        rules = _rules_for(business, staff)
        today = self._clock().astimezone(rules.zone).date()
        if not today - timedelta(days=1) <= day <= today + timedelta(days=rules.horizon_days + 1):
            return []  # nothing to offer, and nothing to read (year 9999 has no day after it)
        capable = [r.id for r in resources if r.id in treatment.resource_ids]
        occupied: dict[str, set[int]] = {resource: set() for resource in capable}
        # The day's lists and records, written in the same step as the unit claims, say the
        # same as the claims in far fewer keys (a busy day: 30 lists and a record per booking,
        # not 4,320 units). The neighbouring days' lists catch buffers that cross midnight.
        # The claims stay the judge: a booking commits only if every unit it needs is free.
        for booking in await self._bookings_near(day, capable):
            if booking.holds_time and (ignoring is None or booking.id != ignoring.id):
                occupied[booking.resource_id].update(booking.units)
        return available_slots(treatment, resources, day, rules, occupied, self._clock())

    # -- making a booking ------------------------------------------------------------------

    async def book(
        self,
        fields: Mapping[str, str],
        *,
        idempotency_key: str = "",
        staff: bool = False,
    ) -> Booked:
        """Book ``fields`` (treatment, start, name, email, phone, optionally resource).

        Raises ``InvalidInput``, ``NotFound`` (treatment), ``SlotTaken`` (with alternatives)
        or ``Conflict`` (an idempotency key reused for a different booking).
        """
        client, start = _parse_request(fields, idempotency_key)
        treatment = await self._catalogue.treatment(fields.get("treatment", ""))
        if not treatment.active:
            raise NotFound("That treatment is not offered any more.")
        if idempotency_key:
            repeat = await self._repeat(idempotency_key, treatment, start, client)
            if repeat is not None:
                return repeat
        business = await self._catalogue.business()
        resources = await self._catalogue.resources()
        _check_window(start, _rules_for(business, staff), self._clock())
        day = start.astimezone(business.rules.zone).date()
        wanted = fields.get("resource", "").strip()
        for _ in range(ATTEMPTS):
            slots = await self._slots(business, treatment, resources, day, None, staff)
            slot = next((s for s in slots if s.start == start), None)
            candidates = (
                [] if slot is None else [r for r in slot.resource_ids if not wanted or r == wanted]
            )
            if not candidates:
                raise SlotTaken(
                    "This time was just taken. Here are other times that day.",
                    _nearest(slots, start, wanted),
                )
            for resource in candidates:
                booked = await self._claim(treatment, resource, start, client, day, idempotency_key)
                if booked is not None:
                    return booked
            if idempotency_key:  # a parallel double submit may have won with the same key
                repeat = await self._repeat(idempotency_key, treatment, start, client)
                if repeat is not None:
                    return repeat
        raise Conflict("Bookings for that day are changing too fast; please try again.")

    async def _claim(
        self,
        treatment: Treatment,
        resource: str,
        start: datetime,
        client: Client,
        day: date,
        idempotency_key: str,
    ) -> Booked | None:
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
        index_key = _day(day, resource)
        index = await self._store.get_item(index_key)
        units = [_unit(resource, unit) for unit in booking.units]
        writes: dict[str, Any] = {
            **dict.fromkeys(units, booking.id),
            f"b:{booking.id}": booking_to_json(booking),
            f"t:{booking.token_hash}": booking.id,
            index_key: sorted([*(index or []), booking.id]),
        }
        expect: dict[str, Any] = {**dict.fromkeys(units, ABSENT), index_key: index or ABSENT}
        ttl = {}
        if idempotency_key:
            key = f"i:{sha256_hex(idempotency_key)}"
            masked = b64encode(xor(raw_token, _pad(idempotency_key, len(raw_token))))
            writes[key] = {"booking": booking.id, "token": masked}
            expect[key] = ABSENT
            ttl[key] = IDEMPOTENCY_TTL
        if not await self._store.transact(writes, expect=expect, ttl=ttl):
            return None
        return Booked(booking, token, created=True)

    async def _repeat(
        self, idempotency_key: str, treatment: Treatment, start: datetime, client: Client
    ) -> Booked | None:
        record = await self._store.get_item(f"i:{sha256_hex(idempotency_key)}")
        if record is None:
            return None
        booking = await self.get(str(record["booking"]))
        if (booking.treatment_id, booking.start, booking.email) != (
            treatment.id,
            start,
            client.email,
        ):
            raise Conflict("That idempotency key was already used for a different booking.")
        masked = b64decode(record["token"]) or b""  # written by _claim: always base64
        return Booked(booking, b64encode(xor(masked, _pad(idempotency_key, len(masked)))), False)

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
        return await self._bookings_of([_day(day, r) for r in resource_ids])

    async def _bookings_near(self, day: date, resource_ids: Sequence[str]) -> list[Booking]:
        days = (day - timedelta(days=1), day, day + timedelta(days=1))
        return await self._bookings_of([_day(d, r) for d in days for r in resource_ids])

    async def _bookings_of(self, lists: Sequence[str]) -> list[Booking]:
        index = await self._store.get_many(lists)
        ids = dict.fromkeys(booking_id for ids in index.values() for booking_id in ids)
        records = await self._store.get_many([f"b:{i}" for i in ids])
        return sorted((booking_from_json(r) for r in records.values()), key=lambda b: b.start)

    # -- changing --------------------------------------------------------------------------

    async def cancel(self, booking: Booking, *, by_client: bool) -> Booking:
        """Cancel and free its time. A client may only do so before the cut-off."""
        return await self._change(booking, by_client=by_client, status=Status.CANCELLED)

    async def set_status(self, booking: Booking, status: Status) -> Booking:
        """Staff: completed, no-show, cancelled, or back to confirmed."""
        return await self._change(booking, by_client=False, status=status)

    async def _change(self, booking: Booking, *, by_client: bool, status: Status) -> Booking:
        for _ in range(ATTEMPTS):
            current = await self._store.get_item(f"b:{booking.id}")
            if current is None:
                raise NotFound("There is no such booking.")
            stored = booking_from_json(current)
            if stored.status is status:
                return stored
            if by_client:
                await self._check_client_may_change(stored)
            changed = stored.revised(self._clock(), status=status)
            writes: dict[str, Any] = {f"b:{stored.id}": booking_to_json(changed)}
            expect: dict[str, Any] = {f"b:{stored.id}": current}
            units = [_unit(stored.resource_id, u) for u in stored.units]
            if stored.holds_time and not changed.holds_time:
                writes.update(dict.fromkeys(units, DELETE))
                expect.update(dict.fromkeys(units, stored.id))
            elif changed.holds_time and not stored.holds_time:
                writes.update(dict.fromkeys(units, stored.id))  # reinstated: claim again
                expect.update(dict.fromkeys(units, ABSENT))
            if await self._store.transact(writes, expect=expect):
                return changed
            if changed.holds_time and not stored.holds_time:
                raise SlotTaken("That time has been booked by someone else since.", [])
        raise Conflict("The booking kept changing; please try again.")

    async def reschedule(
        self, booking: Booking, new_start_text: str, *, by_client: bool
    ) -> Booking:
        """Move a booking to a new start (on any resource able to do it), atomically."""
        new_start = parse_start(new_start_text)
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
                raise SlotTaken(
                    "That time is not free. Here are other times that day.",
                    _nearest(slots, new_start, ""),
                )
            resource = (
                stored.resource_id
                if stored.resource_id in slot.resource_ids
                else (slot.resource_ids[0])
            )
            moved = stored.revised(
                self._clock(),
                start=new_start,
                resource_id=resource,
                duration=treatment.duration,
                buffer_before=treatment.buffer_before,
                buffer_after=treatment.buffer_after,
            )
            if await self._move(stored, current, moved, business.rules):
                return moved
        raise Conflict("That day kept changing; please try again.")

    async def _move(
        self, stored: Booking, current: Any, moved: Booking, rules: BookingRules
    ) -> bool:
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
        old_day = _day(stored.start.astimezone(rules.zone).date(), stored.resource_id)
        new_day = _day(moved.start.astimezone(rules.zone).date(), moved.resource_id)
        if old_day != new_day:
            indexes = await self._store.get_many([old_day, new_day])
            old_ids, new_ids = indexes.get(old_day, []), indexes.get(new_day)
            writes[old_day] = [i for i in old_ids if i != moved.id]
            expect[old_day] = old_ids or ABSENT
            writes[new_day] = sorted([*(new_ids or []), moved.id])
            expect[new_day] = new_ids if new_ids is not None else ABSENT
        return await self._store.transact(writes, expect=expect)

    async def _check_client_may_change(self, booking: Booking) -> None:
        rules = (await self._catalogue.business()).rules
        if booking.status is not Status.CONFIRMED:
            raise Conflict(f"This booking is {booking.status.value}, so it cannot be changed.")
        if not booking.client_may_change(self._clock(), rules.cancel_cutoff_hours):
            raise Conflict(
                f"Bookings can be changed online until {rules.cancel_cutoff_hours} hours before "
                "they start. Please call us instead."
            )


def _parse_request(fields: Mapping[str, str], idempotency_key: str) -> tuple[Client, datetime]:
    """The client and start of a booking request, or every problem with it at once."""
    problems: dict[str, str] = {}
    client, start = None, None
    try:
        client = Client.from_fields(fields)
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
    return client, start


def _pad(idempotency_key: str, length: int) -> bytes:
    return hashlib.sha256(b"manage-token\0" + idempotency_key.encode()).digest()[:length]


def _unit(resource: str, unit: int) -> str:
    return f"u:{resource}:{unit}"


def _day(day: date, resource: str) -> str:
    return f"d:{day.isoformat()}:{resource}"


def _nearest(slots: Sequence[Slot], start: datetime, resource: str, count: int = 6) -> list[Slot]:
    usable = [s for s in slots if not resource or resource in s.resource_ids]
    nearest = sorted(usable, key=lambda s: abs((s.start - start).total_seconds()))[:count]
    return sorted(nearest, key=lambda s: s.start)


def _rules_for(business: Business, staff: bool) -> BookingRules:
    """Staff may book inside the notice period and up to ten years ahead."""
    if staff:
        return replace(business.rules, min_notice=0, horizon_days=3650)
    return business.rules


def _check_window(start: datetime, rules: BookingRules, now: datetime) -> None:
    """A clear answer for a time that could never be offered, before any date arithmetic."""
    if start < now:
        raise InvalidInput({"start": "That time has passed. Choose a time from now on."})
    if start - now > timedelta(days=rules.horizon_days + 1):
        raise InvalidInput(
            {"start": f"Bookings open {rules.horizon_days} days ahead. Choose an earlier day."}
        )
