"""Server-side sessions: records in the ``sessions`` namespace, a per-user index, timeouts.

- A session id is 256 bits from ``secrets``; it travels only in the cookie. The store keys a
  session by the SHA-256 of its id, so a leaked store or log cannot be replayed as a cookie, and
  logs name sessions by a prefix of that hash.
- Idle timeout: every read slides the item's TTL (one round trip on Redis). Absolute timeout: the
  record's creation time, checked on every read. Every record has a TTL: nothing lives forever.
- Saving an existing session only replaces it (compare Django's update-only save): a session
  that a parallel request deleted, a logout, is never written back. Two parallel changes to one
  session: the later save wins whole; Parlour keeps nothing in a session that adds up.
- ``user:<id>`` items index each user's sessions, updated atomically, so "log out everywhere",
  "end this session" and an admin's "end all sessions of this user" find them all.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from parlour.errors import CorruptValue
from parlour.storage.base import KVStore
from parlour.tokens import sha256_hex

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
"""What ``secrets.token_urlsafe(32)`` produces; anything else in a cookie is not looked up."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    user_id: str
    email: str
    role: str
    csrf: str
    """This session's CSRF secret, URL-safe base64 of 32 random bytes."""
    created: float
    seen: float
    ip: str = ""
    agent: str = ""
    flash: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ActiveSession:
    key: str
    record: SessionRecord


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_secret() -> str:
    return secrets.token_urlsafe(32)


def storage_key(session_id: str) -> str:
    return sha256_hex(session_id)


def short(key: str) -> str:
    return key[:12]


@dataclass(slots=True)
class SessionService:
    store: KVStore
    idle_timeout: float
    absolute_timeout: float
    clock: Callable[[], float] = field(default=time.time)
    observe: Callable[[str, float], None] = field(default=lambda operation, seconds: None)
    """Told how long each store operation took (the metrics' session latency)."""

    def _ttl(self, record: SessionRecord) -> float:
        left = record.created + self.absolute_timeout - self.clock()
        return max(1.0, min(self.idle_timeout, left))

    async def load(self, session_id: str) -> SessionRecord | None:
        """The live session with this id, its idle timeout slid; ``None`` if there is none."""
        if not ID_PATTERN.fullmatch(session_id):
            return None
        key = storage_key(session_id)
        started = time.perf_counter()
        try:
            raw = await self.store.get_and_touch(key, self.idle_timeout)
            record = None if raw is None else SessionRecord(**raw)
        except (CorruptValue, TypeError):
            log.warning("session %s: unreadable record, dropped", short(key))
            await self.store.remove_item(key)
            return None
        finally:
            self.observe("load", time.perf_counter() - started)
        if record is not None and self.clock() >= record.created + self.absolute_timeout:
            log.info("session %s: expired (absolute timeout) user=%s", short(key), record.user_id)
            await self._drop(key, record.user_id)
            return None
        return record

    async def create(self, record: SessionRecord) -> str:
        """Store a new session and index it under its user; returns the new id."""
        started = time.perf_counter()
        while True:
            session_id = new_session_id()
            key = storage_key(session_id)
            if await self.store.set_if_absent(key, record.to_json(), ttl=self._ttl(record)):
                break
        await self.store.update(
            _index(record.user_id),
            lambda index: {**self._live_entries(index), key: record.created},
            ttl=self.absolute_timeout,
        )
        log.info("session %s: created user=%s", short(key), record.user_id)
        self.observe("create", time.perf_counter() - started)
        return session_id

    async def save(self, session_id: str, record: SessionRecord) -> bool:
        """Replace a live session; ``False`` if it was ended meanwhile (it stays ended)."""
        started = time.perf_counter()
        try:
            return await self.store.replace_item(
                storage_key(session_id), record.to_json(), ttl=self._ttl(record)
            )
        finally:
            self.observe("save", time.perf_counter() - started)

    async def rotate(self, old_id: str | None, record: SessionRecord) -> str:
        """A new id for a privilege change (``record`` brings a new CSRF secret): the old session
        is destroyed first, then the new one made, so no moment exists when both are valid."""
        if old_id is not None and ID_PATTERN.fullmatch(old_id):
            old = await self.store.get_item(storage_key(old_id))
            if old is not None:
                await self._drop(storage_key(old_id), str(old.get("user_id", "")), "rotated")
        return await self.create(record)

    async def destroy(self, session_id: str, reason: str = "logout") -> None:
        if not ID_PATTERN.fullmatch(session_id):
            return
        key = storage_key(session_id)
        record = await self.store.get_item(key)
        await self._drop(key, "" if record is None else str(record.get("user_id", "")), reason)

    async def sessions_of(self, user_id: str) -> list[ActiveSession]:
        """The user's live sessions, newest first (the index forgets the ones that ended)."""
        index = await self.store.get_item(_index(user_id)) or {}
        active = []
        for key in index:
            raw = await self.store.get_item(key)
            if raw is not None:
                active.append(ActiveSession(key, SessionRecord(**raw)))
        gone = set(index) - {session.key for session in active}
        if gone:
            await self._forget(user_id, gone)
        return sorted(active, key=lambda session: session.record.created, reverse=True)

    async def end(self, user_id: str, key: str, reason: str = "revoked") -> bool:
        """End one session of ``user_id`` by its storage key (as listed by :meth:`sessions_of`)."""
        raw = await self.store.get_item(key)
        if raw is None or raw.get("user_id") != user_id:
            return False
        await self._drop(key, user_id, reason)
        return True

    async def end_all(
        self, user_id: str, *, keep: str | None = None, reason: str = "revoked"
    ) -> int:
        """End every session of ``user_id`` but ``keep`` (a storage key); returns how many."""
        ended = 0
        for session in await self.sessions_of(user_id):
            if session.key != keep:
                await self._drop(session.key, user_id, reason)
                ended += 1
        return ended

    async def _drop(self, key: str, user_id: str, reason: str = "expired") -> None:
        await self.store.remove_item(key)
        if user_id:
            await self._forget(user_id, {key})
        log.info("session %s: %s user=%s", short(key), reason, user_id or "-")

    async def _forget(self, user_id: str, keys: set[str]) -> None:
        await self.store.update(
            _index(user_id),
            lambda index: {k: v for k, v in self._live_entries(index).items() if k not in keys},
            ttl=self.absolute_timeout,
        )

    def _live_entries(self, index: dict[str, float] | None) -> dict[str, float]:
        cutoff = self.clock() - self.absolute_timeout
        return {key: created for key, created in (index or {}).items() if created > cutoff}


def _index(user_id: str) -> str:
    return f"user:{user_id}"
