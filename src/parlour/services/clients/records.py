"""Booking records as a whole: every booking (for the client list), a fresh manage link for a
booking, a booking's client details replaced (a client edited or merged) or erased. They keep
the ``bookings`` namespace's layout (services.bookings.keys: ``b:<id>`` records,
``t:<sha256 of token>`` -> id) and change a record only in one ``transact`` that expects it
as read, as the booking service does.

A manage link's token is stored only as its hash, so staff cannot show a client the link they
were sent. :meth:`ClientRecords.new_link` issues a new one instead: the new hash replaces the
old in one step, so the old link stops working the moment the new one does. The sealed copy the
messages read (``k:<id>``, services.notices.notifier) is replaced in the same step, so every
message staged from then on (a move, a cancellation, the reminder of a moved booking) carries the
new link; a reminder already queued keeps the old, dead one. Erasing a client removes it too.

A rewrite keeps the client index (services.bookings.client_index) in the same step: erasing
takes the booking out of its client's summaries.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from parlour.domain.booking import Booking
from parlour.errors import Conflict, NotFound
from parlour.services.bookings.client_index import index_change
from parlour.services.bookings.commit import ATTEMPTS
from parlour.services.bookings.engine import now_utc
from parlour.services.bookings.keys import booking_key, is_booking, link_key, sealed_link_key
from parlour.services.bookings.records import booking_from_json, booking_to_json
from parlour.storage.base import DELETE, KVStore
from parlour.tokens import b64encode, sha256_hex

ERASED_NAME = "Erased client"
_PERSONAL = {"client_name": ERASED_NAME, "email": "", "phone": "", "notes": ""}
"""What erasing puts in place of a client's details (``notes`` if a booking has them)."""
_FIELDS = {f.name for f in dataclasses.fields(Booking)}


class ClientRecords:
    def __init__(
        self,
        store: KVStore,
        *,
        clock: Callable[[], datetime] = now_utc,
        seal: Callable[[str], str] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._seal = seal
        """Seals a token for the messages to read; ``None`` where no messages are made."""

    @property
    def store(self) -> KVStore:
        """The bookings namespace."""
        return self._store

    async def bookings(self, booking_ids: Sequence[str]) -> list[Booking]:
        """Those of the bookings that exist, in no particular order."""
        found = await self._store.get_many([booking_key(booking_id) for booking_id in booking_ids])
        return [booking_from_json(value) for value in found.values()]

    async def every_booking(self) -> list[Booking]:
        """Every booking ever made, oldest first. Reads the whole namespace once, in batches
        (units, day lists and links too: about 15 small items per booking), and decodes only
        the records."""
        found = [
            booking_from_json(value)
            async for key, value in self._store.items()
            if is_booking(key) and isinstance(value, dict)
        ]
        return sorted(found, key=lambda b: b.created_at)

    async def new_link(self, booking_id: str) -> tuple[Booking, str]:
        """A fresh manage token for the booking; the old one stops working."""
        token = b64encode(secrets.token_bytes(24))
        changed = await self._rewrite(
            booking_id, lambda b: {"token_hash": sha256_hex(token)}, token=token
        )
        return changed, token

    async def set_client(self, booking_id: str, name: str, email: str, phone: str) -> Booking:
        """The booking's client details replaced (staff editing or merging a client); its
        manage link kept."""
        return await self._rewrite(
            booking_id, lambda b: {"client_name": name, "email": email, "phone": phone}
        )

    async def erase_client(self, booking_id: str) -> Booking:
        """The booking kept for the books (time, treatment, price, status), its client's name,
        e-mail, phone and notes replaced and its manage link removed."""
        return await self._rewrite(
            booking_id, lambda b: {k: v for k, v in _PERSONAL.items() if k in _FIELDS}, link=False
        )

    async def _rewrite(
        self,
        booking_id: str,
        changes: Callable[[Booking], dict[str, Any]],
        *,
        link: bool = True,
        token: str = "",
    ) -> Booking:
        key = booking_key(booking_id[:64])
        for _ in range(ATTEMPTS):
            current = await self._store.get_item(key)
            if current is None:
                raise NotFound("There is no such booking.")
            stored = booking_from_json(current)
            wanted = changes(stored)
            if not link:
                wanted["token_hash"] = ""
            changed = dataclasses.replace(stored, **wanted, updated_at=self._clock())
            writes: dict[str, Any] = {key: booking_to_json(changed)}
            if stored.token_hash:
                writes[link_key(stored.token_hash)] = DELETE
            if changed.token_hash:
                writes[link_key(changed.token_hash)] = stored.id
            if not link or token:  # the messages' sealed copy follows the link, or goes with it
                sealed = self._seal(token) if token and self._seal else None
                writes[sealed_link_key(stored.id)] = sealed if sealed is not None else DELETE
            index = index_change(stored, changed).merge
            if await self._store.transact(writes, expect={key: current}, merge=index or None):
                return changed
        raise Conflict("The booking kept changing; please try again.")
