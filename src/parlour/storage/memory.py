"""The in-process backend: the single-instance default for sessions.

Expired items are invisible at once and reclaimed a few at a time on each write, so no call does
unbounded work and a store of short-lived sessions does not grow without limit.

With a ``snapshot`` file, the items are saved on a clean shutdown and loaded again on start
(expired ones dropped): a restart, an upgrade or a move to Redis logs nobody out. The file is
JSON lines, one item each, the same format ``parlour export`` writes and ``parlour import``
reads, written whole to a new file that then replaces the old, so a crash never leaves half.

Several processes may share one snapshot (``parlour serve --workers 2``, or a ``parlour``
command beside a running server). Each saves by merging, under an exclusive lock on
``<snapshot>.lock``: what the file holds now, with the keys this process changed since it loaded
(written, removed, given a new TTL) replaced by this process's version. So nobody's items are
lost to another process closing at the same moment, and a command that only read the snapshot
writes nothing back over a server's newer sessions. The new file is created under a name of its
own, with mode 0600 from the first byte: sessions hold CSRF secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import heapq
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from parlour.config import Settings
from parlour.errors import ConfigurationError
from parlour.storage.base import (
    DELETE,
    Backend,
    Condition,
    Operation,
    announcement,
    condition_holds,
    expectation_holds,
    merged,
)
from parlour.storage.events import ChangeEvent, ChangeKind

RECLAIM_PER_CALL = 32


@dataclass(slots=True)
class _Entry:
    raw: str
    expires_at: float | None


class MemoryBackend(Backend):
    name = "memory"

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, snapshot: Path | None = None
    ) -> None:
        super().__init__()
        self._clock = clock
        self.snapshot = snapshot
        self._data: dict[str, dict[str, _Entry]] = {}
        # (expires_at, namespace, key); an entry may be stale: the item was removed, rewritten or
        # its TTL moved. Sliding a TTL later pushes nothing: the old entry is re-filed when it
        # comes due, so a session touched on every request keeps one heap entry, not thousands.
        self._expiry: list[tuple[float, str, str]] = []
        # For merging into a shared snapshot: the keys this process loaded from it, and those it
        # changed since. Changed keys that were never loaded are forgotten when they go, so the
        # set stays within what is live plus what was loaded.
        self._loaded: set[tuple[str, str]] = set()
        self._changed: set[tuple[str, str]] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> MemoryBackend:
        return cls(snapshot=settings.memory_snapshot)

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> MemoryBackend:
        raise ConfigurationError("the memory backend is not named by a URL; write memory")

    def describe(self) -> str:
        return f"memory (saved to {self.snapshot})" if self.snapshot else "memory"

    async def ping(self) -> None:
        return None

    async def open(self) -> None:
        if self.snapshot is not None:
            lines = await asyncio.to_thread(_read_lines, self.snapshot)
            wall = time.time()
            for line in lines:
                item = json.loads(line)
                expires = item.get("expires")
                if expires is not None and expires <= wall:
                    continue
                ttl = None if expires is None else expires - wall
                self._put(item["namespace"], item["key"], item["value"], ttl)
                self._loaded.add((item["namespace"], item["key"]))
            self._changed.clear()

    async def close(self) -> None:
        if self.snapshot is not None:
            mine = {
                (ns, key): line for ns, key, line in self._lines() if (ns, key) in self._changed
            }
            await asyncio.to_thread(_merge_into, self.snapshot, mine, set(self._changed))
            self._changed.clear()

    def dump(self) -> Iterator[str]:
        """Every live item as a JSON line, expiry as wall-clock time."""
        return (line for _, _, line in self._lines())

    def _lines(self) -> Iterator[tuple[str, str, str]]:
        now, wall = self._clock(), time.time()
        for namespace, items in self._data.items():
            for key, entry in items.items():
                if entry.expires_at is not None and entry.expires_at <= now:
                    continue
                expires = None if entry.expires_at is None else wall + entry.expires_at - now
                line = json.dumps(
                    {"namespace": namespace, "key": key, "value": entry.raw, "expires": expires},
                    ensure_ascii=False,
                )
                yield namespace, key, line

    def _live(self, namespace: str, key: str) -> _Entry | None:
        entry = self._data.get(namespace, {}).get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= self._clock():
            self._drop(namespace, key)
            return None
        return entry

    def _drop(self, namespace: str, key: str) -> None:
        items = self._data.get(namespace)
        if items is not None:
            items.pop(key, None)
            if not items:
                del self._data[namespace]
        if (namespace, key) not in self._loaded:
            self._changed.discard((namespace, key))  # the snapshot never had it: nothing to undo

    def _reclaim(self) -> None:
        now = self._clock()
        for _ in range(RECLAIM_PER_CALL):
            if not self._expiry or self._expiry[0][0] > now:
                return
            _, namespace, key = heapq.heappop(self._expiry)
            entry = self._data.get(namespace, {}).get(key)
            if entry is None or entry.expires_at is None:
                continue
            if entry.expires_at <= now:
                self._drop(namespace, key)
            else:
                heapq.heappush(self._expiry, (entry.expires_at, namespace, key))

    def _expires_at(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    def _file_expiry(self, namespace: str, key: str, old: float | None, new: float | None) -> None:
        if new is not None and (old is None or new < old):
            heapq.heappush(self._expiry, (new, namespace, key))

    async def get(self, namespace: str, key: str) -> str | None:
        entry = self._live(namespace, key)
        return None if entry is None else entry.raw

    async def set(
        self,
        namespace: str,
        key: str,
        raw: str,
        ttl: float | None,
        condition: Condition = Condition.ALWAYS,
        expected: str | None = None,
    ) -> bool:
        self._reclaim()
        entry = self._live(namespace, key)
        if not condition_holds(condition, None if entry is None else entry.raw, expected):
            return False
        self._put(namespace, key, raw, ttl)
        self.changes.publish(ChangeEvent(namespace, key, ChangeKind.SET))
        return True

    def _put(self, namespace: str, key: str, raw: str, ttl: float | None) -> None:
        self._changed.add((namespace, key))
        entry = self._live(namespace, key)
        expires_at = self._expires_at(ttl)
        self._file_expiry(namespace, key, None if entry is None else entry.expires_at, expires_at)
        self._data.setdefault(namespace, {})[key] = _Entry(raw, expires_at)

    async def remove(self, namespace: str, key: str) -> bool:
        self._reclaim()
        if self._live(namespace, key) is None:
            return False
        self._changed.add((namespace, key))
        self._drop(namespace, key)
        self.changes.publish(ChangeEvent(namespace, key, ChangeKind.REMOVED))
        return True

    async def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        found = {}
        for key in keys:
            entry = self._live(namespace, key)
            if entry is not None:
                found[key] = entry.raw
        return found

    async def transact(self, namespace: str, operations: Sequence[Operation]) -> bool:
        self._reclaim()
        currents: dict[str, str | None] = {}
        for operation in operations:
            entry = self._live(namespace, operation.key)
            current = currents[operation.key] = None if entry is None else entry.raw
            if not expectation_holds(operation, current):
                return False
        texts = {  # every expectation holds: now the merges
            op.key: merged(currents[op.key], op.merge, backend=self.name)
            for op in operations
            if op.merge is not None
        }
        for operation in operations:  # nothing awaited in between: atomic in this process
            kind = announcement(operation, currents[operation.key])
            if operation.write is DELETE:
                self._changed.add((namespace, operation.key))
                self._drop(namespace, operation.key)
            elif isinstance(operation.write, str):
                self._put(namespace, operation.key, operation.write, operation.ttl)
            elif operation.key in texts:
                self._put(namespace, operation.key, texts[operation.key], operation.ttl)
            if kind is not None:
                self.changes.publish(ChangeEvent(namespace, operation.key, kind))
        return True

    async def ttls(self, namespace: str, keys: Sequence[str]) -> dict[str, float | None]:
        now, found = self._clock(), {}
        for key in keys:
            entry = self._live(namespace, key)
            if entry is not None:
                found[key] = None if entry.expires_at is None else entry.expires_at - now
        return found

    async def touch(self, namespace: str, key: str, ttl: float) -> bool:
        entry = self._live(namespace, key)
        if entry is None:
            return False
        expires_at = self._clock() + ttl
        self._file_expiry(namespace, key, entry.expires_at, expires_at)
        entry.expires_at = expires_at
        self._changed.add((namespace, key))
        return True

    async def scan(self, namespace: str, batch_size: int) -> AsyncIterator[list[tuple[str, str]]]:
        keys = list(self._data.get(namespace, {}))
        for start in range(0, len(keys), batch_size):
            batch = []
            for key in keys[start : start + batch_size]:
                entry = self._live(namespace, key)
                if entry is not None:
                    batch.append((key, entry.raw))
            if batch:
                yield batch

    def __len__(self) -> int:
        """Items held, expired ones not yet reclaimed included (for tests of reclamation)."""
        return sum(len(items) for items in self._data.values())


def _read_lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text("utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def _merge_into(
    path: Path, mine: dict[tuple[str, str], str], changed: set[tuple[str, str]]
) -> None:
    """Replace the snapshot at ``path`` with what it holds now, the ``changed`` keys taken from
    ``mine`` (a changed key missing there was removed): one process at a time, under a lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(path.with_name(path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wall = time.time()
        lines: dict[tuple[str, str], str] = {}
        for line in _read_lines(path):
            item = json.loads(line)
            expires = item.get("expires")
            if expires is None or expires > wall:
                lines[item["namespace"], item["key"]] = line
        for name in changed:
            lines.pop(name, None)
        lines.update(mine)
        _write_lines(path, list(lines.values()))
    finally:
        os.close(lock)  # and with it the lock


def _write_lines(path: Path, lines: list[str]) -> None:
    """Write ``path`` whole through a file of this process's own, private from its creation."""
    fresh = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
    descriptor = os.open(fresh, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.writelines(line + "\n" for line in lines)
            out.flush()
            os.fsync(out.fileno())
        fresh.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            fresh.unlink()
        raise
