"""The audit log: who changed what, when, from where, with the values before and after.

Append-only by construction: every entry gets a new key that sorts by time (nanoseconds since
the epoch, then random bits, so two instances never collide) and is written with
``set_if_absent``, so no entry is ever overwritten; this service has no way to change or remove
one, and no route or command calls the store's. Values are kept as JSON; secrets (password
hashes, second-factor secrets, recovery codes, CSRF secrets, manage-link hashes) are replaced by
``"(hidden)"`` before they are written.
"""

from __future__ import annotations

import dataclasses
import enum
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as clock_time
from typing import Any

from parlour.storage.base import JSON, KVStore

HIDDEN = "(hidden)"
SECRET_FIELDS = frozenset(
    {
        "password",
        "password_hash",
        "totp_secret",
        "totp_pending",
        "recovery_codes",
        "known_addresses",
        "csrf",
        "token_hash",
        "data",
    }
)
"""Fields never written to the log (``data``: a photo's bytes)."""
PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    email: str
    address: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    key: str
    at: float
    actor_id: str
    actor: str
    address: str
    action: str
    """A dotted name: ``booking.status``, ``treatment.save``, ``user.role``..."""
    target: str
    before: JSON
    after: JSON

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    who: str = ""
    """A part of the actor's e-mail address."""
    what: str = ""
    """The start of an action's name: ``booking`` finds every booking change."""
    since: float | None = None
    until: float | None = None

    def matches(self, entry: AuditEntry) -> bool:
        return (
            self.who.casefold() in entry.actor.casefold()
            and entry.action.startswith(self.what)
            and (self.since is None or entry.at >= self.since)
            and (self.until is None or entry.at < self.until)
        )


def plain(value: object) -> JSON:
    """``value`` as JSON: dataclasses as objects, times as ISO 8601, enums as their value,
    secrets hidden."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {
            str(name): HIDDEN if name in SECRET_FIELDS else plain(item)
            for name, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, datetime | date | clock_time):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class AuditService:
    def __init__(self, store: KVStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def record(
        self, actor: Actor, action: str, target: str, before: object = None, after: object = None
    ) -> AuditEntry:
        """Append one entry; never replaces another."""
        while True:
            now = self._clock()
            key = f"{int(now * 1e9):020d}-{secrets.token_hex(4)}"
            entry = AuditEntry(
                key=key,
                at=now,
                actor_id=actor.user_id,
                actor=actor.email,
                address=actor.address,
                action=action,
                target=target,
                before=plain(before),
                after=plain(after),
            )
            record = entry.to_json()
            del record["key"]
            if await self._store.set_if_absent(key, record):
                return entry

    async def entries(self, wanted: AuditFilter | None = None) -> AsyncIterator[AuditEntry]:
        """Every matching entry, oldest first."""
        wanted = wanted or AuditFilter()
        found = [
            AuditEntry(key=key, **value)
            for key, value in (await self._store.get_all_items()).items()
        ]
        for entry in sorted(found, key=lambda e: e.key):
            if wanted.matches(entry):
                yield entry

    async def page(
        self, wanted: AuditFilter, number: int = 1, size: int = PAGE_SIZE
    ) -> tuple[list[AuditEntry], bool]:
        """Page ``number`` (from 1) of the matching entries, newest first, and whether another
        page follows."""
        matching = [entry async for entry in self.entries(wanted)]
        matching.reverse()
        start = (max(1, number) - 1) * size
        return matching[start : start + size], len(matching) > start + size
