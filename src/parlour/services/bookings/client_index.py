"""The client index: what the client list reads instead of every key of the bookings namespace.

Keys in the ``bookings`` namespace, spelled by services.bookings.keys (``<id>`` is a client
key's id, services.bookings.client_keys):

    c:k:<id>          {booking id: summary} for every booking of that key (merged)
    c:q:<nn>          {id: ""} for keys whose listing is not yet up to date, in 256 shards
    c:l:<id>          the key's listing: its entries in the sorted index
    c:s, c:s:<leaf>   the sorted index of listing entries (services.sorted_index)
    c:built           the build marker: every booking made before the index existed is in it

Every change of a booking adds :func:`index_change` to its own ``transact`` (the booking engine's
``_commit`` and ``ClientRecords``' rewrite, which every path goes through: book, move, cancel,
status changes, erase, a new link; the web, the API, the demo), so a crash cannot leave the
booking and its summary apart. It only merges, reads nothing first and expects nothing, so it
never makes a booking contend; and it touches one or two small keys: the key's own bookings and,
when the booking is new or its client's name, e-mail or phone changed, a pending-shard field.

Everything else (the listing and the sorted entries) is brought up to date from
``c:k`` by services.clients.listing before any read, for the keys still pending: its work is
proportional to what changed since, and never on a booking's path. A shared name or phone (a
front desk's number on every booking) therefore never makes a booking rewrite a growing key.

The index is written here, beside the engine that writes it in every change, and read by the
services.clients package: clients depend on bookings, never the other way round.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parlour.domain.booking import Booking, Status
from parlour.services.bookings.client_keys import client_id, client_key, client_key_of
from parlour.services.bookings.keys import client_pending_key, client_summaries_key
from parlour.services.staged import Staged
from parlour.storage.base import DELETE, JSON

SHARDS = 256
"""Pending shards: a key waits in one until a read brings its listing up to date. A booking
merges into one, which costs what the shard holds: where nobody opens the list for months, each
holds a 256th of the new clients meanwhile (a read takes all 256 in one round trip)."""
PENDING_KEYS = tuple(client_pending_key(n) for n in range(SHARDS))


def pending_key(key_id: str) -> str:
    return PENDING_KEYS[int(key_id[:4], 16) % SHARDS]


@dataclass(frozen=True, slots=True)
class Visit:
    """What the client list keeps of one booking."""

    id: str
    created_at: datetime
    start: datetime
    status: Status
    price: int
    name: str
    email: str
    phone: str

    @property
    def key(self) -> str:
        return client_key(self.email, self.phone, self.name)


def summary(booking: Booking) -> str:
    return json.dumps(
        [
            booking.created_at.isoformat(),
            booking.start.isoformat(),
            booking.status.value,
            booking.price,
            booking.client_name,
            booking.email,
            booking.phone,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def visits_of(document: JSON) -> list[Visit]:
    """The visits a ``c:k`` document holds, newest made last (ties by id)."""
    if not isinstance(document, dict):
        return []
    found = []
    for booking_id, text in document.items():
        created, start, status, price, name, email, phone = json.loads(text)
        found.append(
            Visit(
                booking_id,
                datetime.fromisoformat(created),
                datetime.fromisoformat(start),
                Status(status),
                int(price),
                name,
                email,
                phone,
            )
        )
    return sorted(found, key=lambda v: (v.created_at, v.id))


def _named(booking: Booking) -> tuple[str, str, str, datetime]:
    """What a key's listing depends on, of each of its bookings."""
    return booking.client_name, booking.email, booking.phone, booking.created_at


def index_change(before: Booking | None, after: Booking | None) -> Staged:
    """The merges that keep the index true for a booking going from ``before`` to ``after``
    (``None``: it did not exist), for the change's own ``transact``."""
    old = client_key_of(before) if before is not None else ""
    new = client_key_of(after) if after is not None else ""
    merge: dict[str, dict[str, Any]] = {}

    def add(key: str, fields: dict[str, Any]) -> None:
        merge.setdefault(key, {}).update(fields)

    if before is not None and old and old != new:
        gone = client_id(old)
        add(client_summaries_key(gone), {before.id: DELETE})
        add(pending_key(gone), {gone: ""})
    if after is not None and new:
        kept = client_id(new)
        text = summary(after)
        if before is None or old != new or summary(before) != text:
            add(client_summaries_key(kept), {after.id: text})
        if before is None or old != new or _named(before) != _named(after):
            add(pending_key(kept), {kept: ""})
    return Staged(merge=merge)
