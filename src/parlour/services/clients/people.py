"""Clients as people: staff correct a client's name, e-mail address and phone, merge two
records of one person, and mark a note as an alert (an allergy, a patch test) that shows on
every appointment of theirs.

A client is the bookings of one key (services.bookings.client_keys), so both an edit and a
merge are the same act: every booking of the client (of both, for a merge) is given the same
details, one booking at a time through ``ClientRecords.set_client``, which keeps the client
index in the same step; then the staff's notes move to the key those details name. A merged
client takes the kept one's name, and its e-mail address and phone, or the other's where the
kept one has none, so that no way of reaching them is lost and every message still to come (a
reminder of a booking made by phone) goes to the address now on the booking. A merge that stops
half-way (a crash) leaves two clients, and doing it again finishes it.

Notes live in the ``clients`` namespace (services.clients.service); an alert is also listed in

    alerts        {note id: [client key id, text]}: every alert note, merged field by field

so that a page of appointments finds its clients' alerts in one read (:class:`AlertBook`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from parlour.domain.booking import Booking
from parlour.errors import Conflict
from parlour.services.bookings.client_keys import (
    client_id,
    client_key,
    client_key_of,
    legacy_phone_key,
)
from parlour.services.bookings.records import ClientDetails
from parlour.services.clients.records import ClientRecords
from parlour.storage.base import ABSENT, DELETE, JSON, KVStore

ALERTS = "alerts"
ATTEMPTS = 8


def notes_key(key: str) -> str:
    return f"n:{client_id(key)}"


def note_keys(keys: Iterable[str]) -> list[str]:
    """Where a client's notes are: its keys', and for a phone key the one its number had
    before issue 24 (notes written when every phone-only booking of a number was one client)."""
    found = [notes_key(k) for k in keys]
    found += [notes_key(old) for k in keys if (old := legacy_phone_key(k))]
    return list(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class AlertBook:
    """Every alert note, by the client key id it is on."""

    by_client: Mapping[str, Sequence[str]]

    @classmethod
    def from_json(cls, value: JSON | None) -> AlertBook:
        by_client: dict[str, list[str]] = {}
        for text in (value if isinstance(value, dict) else {}).values():
            key_id, note = json.loads(str(text))
            by_client.setdefault(key_id, []).append(note)
        return cls(by_client)

    def of(self, booking: Booking) -> Sequence[str]:
        """The alerts on the client of this booking."""
        key = client_key_of(booking)
        return self.by_client.get(client_id(key), ()) if key else ()


def alert_field(key: str, text: str) -> str:
    return json.dumps([client_id(key), text], ensure_ascii=False)


def merged_details(kept: ClientDetails, other: ClientDetails) -> ClientDetails:
    return ClientDetails(kept.name, kept.email or other.email, kept.phone or other.phone)


def key_of(details: ClientDetails) -> str:
    return client_key(details.email, details.phone, details.name)


async def give_details(
    records: ClientRecords, bookings: Iterable[Booking], details: ClientDetails
) -> int:
    """Every one of ``bookings`` given ``details``; how many changed."""
    changed = 0
    for booking in bookings:
        if (booking.client_name, booking.email, booking.phone) != (
            details.name,
            details.email,
            details.phone,
        ):
            await records.set_client(booking.id, details.name, details.email, details.phone)
            changed += 1
    return changed


async def move_notes(store: KVStore, old_keys: Sequence[str], new_key: str) -> int:
    """The notes of ``old_keys`` appended to ``new_key``'s (notes of a number's pre-issue-24
    key are copied, not moved: other people of that number may see them too), their alerts
    following them; how many came."""
    target = notes_key(new_key)
    moved = [k for k in dict.fromkeys(notes_key(k) for k in old_keys) if k != target]
    copied = [k for k in note_keys(old_keys) if k not in moved and k != target]
    for _ in range(ATTEMPTS):
        read = await store.get_many([target, *moved, *copied])
        notes: dict[str, dict[str, Any]] = {}
        for key in (target, *moved, *copied):
            for note in read.get(key) or []:
                if isinstance(note, dict) and isinstance(note.get("id"), str):
                    notes.setdefault(note["id"], note)
        came = len(notes) - len(read.get(target) or [])
        if not came and not moved:
            return 0
        writes: dict[str, Any] = dict.fromkeys(moved, DELETE)
        writes[target] = sorted(notes.values(), key=lambda n: str(n.get("at", "")))
        expect = {k: read.get(k, ABSENT) for k in (target, *moved, *copied)}
        alerts = {
            n["id"]: alert_field(new_key, str(n.get("text", "")))
            for n in notes.values()
            if n.get("alert")
        }
        if await store.transact(writes, expect=expect, merge={ALERTS: alerts} if alerts else None):
            return came
    raise Conflict("The client's notes kept changing; please try again.")
