"""The unit claims that decide every booking, and the idempotency record that answers a repeat.

A booking claims each 5-minute unit its treatment and buffers occupy on its resource
(``u:<resource>:<unit>``, expected absent); a cancellation releases them, a reinstatement claims
them again, a move claims the new ones and releases those it left, each in the change's own
``transact`` and each expecting what it read. Two requests for overlapping times, on any number
of instances, cannot both succeed; requests for different times never contend.

A request with an idempotency key leaves ``i:<sha256 of key>`` for a day: the booking's id and
its manage token masked with a pad only the key opens, so a repeat gets the same answer.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import BookingRules, Treatment
from parlour.domain.events import Actor
from parlour.services.bookings.day_index import index_change
from parlour.services.bookings.keys import booking_key, day_key, link_key, repeat_key, unit_key
from parlour.services.bookings.records import ClientDetails, booking_to_json
from parlour.services.staged import Staged
from parlour.storage.base import ABSENT, DELETE, JSON
from parlour.tokens import b64decode, b64encode, sha256_hex, xor

IDEMPOTENCY_TTL = 24 * 3600.0


def new_booking(
    treatment: Treatment,
    resource: str,
    start: datetime,
    client: ClientDetails,
    now: datetime,
    *,
    requested: bool = False,
) -> tuple[Booking, bytes]:
    """A confirmed booking of ``treatment`` and the raw bytes of its manage token (only the
    token's hash is in the booking); ``requested``: its resource was asked for by name."""
    raw_token = secrets.token_bytes(24)
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
        created_at=now,
        token_hash=sha256_hex(b64encode(raw_token)),
        requested=requested,
    )
    return booking, raw_token


def units_of(booking: Booking) -> list[str]:
    return [unit_key(booking.resource_id, unit) for unit in booking.units]


def claim(
    booking: Booking, raw_token: bytes, day: str, idempotency_key: str, by: Actor
) -> tuple[Staged, dict[str, float]]:
    """A new booking's writes: its units claimed, its record and link, its day list (``day``)
    and, with an idempotency key, the record a repeat reads; and the time-to-live of that one."""
    units = units_of(booking)
    writes: dict[str, Any] = {
        **dict.fromkeys(units, booking.id),
        booking_key(booking.id): booking_to_json(booking),
        link_key(booking.token_hash): booking.id,
    }
    expect: dict[str, Any] = {
        **dict.fromkeys(units, ABSENT),
        booking_key(booking.id): ABSENT,
        link_key(booking.token_hash): ABSENT,
    }
    ttl: dict[str, float] = {}
    if idempotency_key:
        key = repeat_key(idempotency_key)
        masked = b64encode(xor(raw_token, _pad(idempotency_key, len(raw_token))))
        writes[key] = {"booking": booking.id, "token": masked, "by": by.value}
        expect[key] = ABSENT
        ttl[key] = IDEMPOTENCY_TTL
    return Staged(writes, expect=expect) + index_change(booking.id, add=[day]), ttl


def repeated(record: JSON, idempotency_key: str) -> tuple[str, Actor]:
    """The manage token and who made the booking, from a repeat's record (:func:`claim`)."""
    masked = b64decode(record["token"]) or b""  # written by claim: always base64
    token = b64encode(xor(masked, _pad(idempotency_key, len(masked))))
    return token, Actor.STAFF if record.get("by") == Actor.STAFF.value else Actor.CLIENT


def status_claims(stored: Booking, changed: Booking) -> Staged:
    """What a change of status does to the booking's units: released when it stops holding
    its time (each expected to hold it), claimed again when it is reinstated."""
    writes: dict[str, Any] = {}
    expect: dict[str, Any] = {}
    units = units_of(stored)
    if stored.holds_time and not changed.holds_time:
        writes.update(dict.fromkeys(units, DELETE))
        expect.update(dict.fromkeys(units, stored.id))
    elif changed.holds_time and not stored.holds_time:
        writes.update(dict.fromkeys(units, stored.id))  # reinstated: claim again
        expect.update(dict.fromkeys(units, ABSENT))
    return Staged(writes, expect=expect)


def move_claims(stored: Booking, moved: Booking, rules: BookingRules) -> Staged:
    """A move's units: the new ones claimed (or kept, where the old and new overlap), the ones
    it left released, and its day lists changed if its local day or resource did."""
    old_units, new_units = set(units_of(stored)), set(units_of(moved))
    writes: dict[str, Any] = {}
    expect: dict[str, Any] = {}
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
    return Staged(writes, expect=expect) + index


class Contention:
    """The unit claims this process's requests are committing right now, with how many."""

    def __init__(self) -> None:
        self._claiming: Counter[str] = Counter()

    @contextmanager
    def claiming(self, units: Sequence[str]) -> Iterator[None]:
        self._claiming.update(units)
        try:
            yield
        finally:
            self._claiming -= Counter(units)  # and drops those no request claims any more

    def least_contended(self, untried: Sequence[str], units: range) -> str:
        """The first of ``untried`` whose time no other request of this process is claiming
        right now, else the first: requests racing for one time on "anyone free" spread over
        the therapists able to do it, instead of queueing behind the same one (each loss costs
        a commit). Only an order: the claims still decide."""
        for resource in untried:
            if not any(unit_key(resource, unit) in self._claiming for unit in units):
                return resource
        return untried[0]


def preferred_then_spread(candidates: Sequence[str]) -> list[str]:
    """The order "anyone free" tries: the business's first choice, then the rest shuffled, so
    that requests racing for the same time do not all queue behind the same second choice
    (each loss costs a commit)."""
    rest = list(candidates[1:])
    _SPREAD.shuffle(rest)
    return [*candidates[:1], *rest]


_SPREAD = secrets.SystemRandom()


def _pad(idempotency_key: str, length: int) -> bytes:
    return hashlib.sha256(b"manage-token\0" + idempotency_key.encode()).digest()[:length]
