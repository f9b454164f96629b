"""Server-side sessions: records in the ``sessions`` namespace, a per-user index, timeouts.

- A session id is 256 bits from ``secrets``; it travels only in the cookie. The store keys a
  session by the SHA-256 of its id, so a leaked store or log cannot be replayed as a cookie, and
  logs name sessions by a prefix of that hash.
- Timeouts are enforced on every request from the record itself: idle from ``seen``, absolute
  from ``created``. ``seen`` (and with it the item's TTL in the store) is written at most once
  per :attr:`SessionService.seen_resolution`, so a session idles out between ``idle_timeout -
  seen_resolution`` and ``idle_timeout`` after its last request. Every record has a TTL.
- Recently used sessions are kept per process (:class:`~parlour.services.cache.ItemCache`),
  each dropped by the change event of its key from any instance, all of them whenever the
  feed is lost or resyncs, none used while it is down. A request for an unchanged session
  costs no round trip; a session ended on one instance is refused by the others as soon as
  its event arrives (``bench/revocation.py`` measures that delay).
- Saving an existing session only replaces it (compare Django's update-only save): a session
  that a parallel request deleted, a logout, is never written back. Two parallel changes to one
  session: the later save wins whole; Parlour keeps nothing in a session that adds up.
- ``user:<id>`` items index each user's sessions, updated atomically, so "log out everywhere",
  "end this session" and an admin's "end all sessions of this user" find them all.
- Sessions follow the account: a record carries the account's credentials version from the
  moment the password was checked. :meth:`SessionService.load` ends a session whose version is
  no longer the account's (the version comes from the process's cache of ``users``, so this costs
  a dictionary lookup). A login that raced a change is caught when it is made: the new session is
  indexed first and the version re-read from the store after, while a change writes the version
  first and sweeps the index after; whichever comes second sees the other, so either the sweep
  ends the new session or the login drops it (``create`` raises ``CredentialsChanged``).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from parlour.errors import Conflict, CorruptValue
from parlour.services.cache import ItemCache
from parlour.storage.base import KVStore
from parlour.tokens import sha256_hex

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
"""What ``secrets.token_urlsafe(32)`` produces; anything else in a cookie is not looked up."""

SEEN_RESOLUTION = 60.0
""""Last seen", and the idle timeout in the store, are written at most once a minute, so an
unchanged session costs no write."""


class CredentialsChanged(Conflict):
    """The account's password, role or second factor changed while this login was checked."""


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
    version: int = 0
    """The account's credentials version when this session was made."""
    two_factor: bool = False
    """Whether the account had a second factor (and it was given) when this session was made."""

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
    credentials: Callable[[str, bool], Awaitable[int | None]] | None = None
    """``(email, fresh)`` -> the account's credentials version, ``None`` for no account
    (``AccountService.credentials_version``); ``None`` here checks nothing."""
    cache: ItemCache[SessionRecord] | None = None
    """This process's copy of recently used sessions (``None``: every load reads the store)."""

    @property
    def seen_resolution(self) -> float:
        """How stale ``seen`` may get before a request writes it (and slides the TTL)."""
        return min(SEEN_RESOLUTION, self.idle_timeout / 10)

    def _ttl(self, record: SessionRecord) -> float:
        left = record.created + self.absolute_timeout - self.clock()
        return max(1.0, min(self.idle_timeout, left))

    async def load(self, session_id: str) -> SessionRecord | None:
        """The live session with this id; ``None`` if there is none (or it timed out)."""
        if not ID_PATTERN.fullmatch(session_id):
            return None
        key = storage_key(session_id)
        try:
            if self.cache is None:
                record = await self._read(key)
            else:
                record = await self.cache.get(key, lambda: self._read(key))
        except (CorruptValue, TypeError):
            log.warning("session %s: unreadable record, dropped", short(key))
            await self.store.remove_item(key)
            return None
        if record is None:
            return None
        expired = self._expired(record)
        if expired:
            await self._drop(key, record.user_id, f"expired ({expired} timeout)")
            return None
        if not await self._current(record, fresh=False):
            await self._drop(key, record.user_id, "ended: the account's credentials changed")
            return None
        return record

    def _expired(self, record: SessionRecord) -> str:
        """Which timeout ``record`` is past (``""``: none): checked on every load, a copy
        kept in memory included."""
        now = self.clock()
        if now >= record.created + self.absolute_timeout:
            return "absolute"
        if now >= record.seen + self.idle_timeout:
            return "idle"
        return ""

    async def _read(self, key: str) -> SessionRecord | None:
        started = time.perf_counter()
        try:
            raw = await self.store.get_item(key)
            return None if raw is None else SessionRecord(**raw)
        finally:
            self.observe("load", time.perf_counter() - started)

    def _forget(self, key: str) -> None:
        if self.cache is not None:
            self.cache.forget(key)

    async def _current(self, record: SessionRecord, *, fresh: bool) -> bool:
        if self.credentials is None:
            return True
        return await self.credentials(record.email, fresh) == record.version

    async def create(self, record: SessionRecord) -> str:
        """Store a new session and index it under its user; returns the new id. Raises
        :class:`CredentialsChanged` (leaving nothing stored) if the account's credentials
        version is no longer the one ``record`` was made with."""
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
        # Indexed first, checked after: a change that wrote its version before this read is
        # seen here; one that writes after it finds this session in the index and ends it.
        if not await self._current(record, fresh=True):
            await self._drop(key, record.user_id, "not made: the account's credentials changed")
            self.observe("create", time.perf_counter() - started)
            raise CredentialsChanged("the account changed while this login was checked")
        log.info("session %s: created user=%s", short(key), record.user_id)
        self.observe("create", time.perf_counter() - started)
        return session_id

    async def save(self, session_id: str, record: SessionRecord) -> bool:
        """Replace a live session; ``False`` if it was ended meanwhile (it stays ended)."""
        started = time.perf_counter()
        key = storage_key(session_id)
        try:
            return await self.store.replace_item(key, record.to_json(), ttl=self._ttl(record))
        finally:
            self._forget(key)
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

    async def sessions_of(self, user_id: str, *, stale: bool = False) -> list[ActiveSession]:
        """The user's live sessions, newest first (the index forgets the ones that ended).
        Sessions made before the account's last change are dead: removed, unless ``stale``
        asks for them too (to end them all but one that is being carried over)."""
        index = await self.store.get_item(_index(user_id)) or {}
        active = []
        for key in index:
            raw = await self.store.get_item(key)
            if raw is None:
                continue
            record = SessionRecord(**raw)
            if stale or await self._current(record, fresh=False):
                active.append(ActiveSession(key, record))
            else:
                await self.store.remove_item(key)  # made before the account last changed
                self._forget(key)
        gone = set(index) - {session.key for session in active}
        if gone:
            await self._unindex(user_id, gone)
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
        for session in await self.sessions_of(user_id, stale=True):
            if session.key != keep:
                await self._drop(session.key, user_id, reason)
                ended += 1
        return ended

    async def _drop(self, key: str, user_id: str, reason: str = "expired") -> None:
        try:
            await self.store.remove_item(key)
        finally:
            self._forget(key)
        if user_id:
            await self._unindex(user_id, {key})
        log.info("session %s: %s user=%s", short(key), reason, user_id or "-")

    async def _unindex(self, user_id: str, keys: set[str]) -> None:
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
