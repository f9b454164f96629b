"""The in-process backend: the single-instance default for sessions.

Expired items are invisible at once and reclaimed a few at a time on each write, so no call does
unbounded work and a store of short-lived sessions does not grow without limit.

With a ``snapshot`` file, the items are saved on a clean shutdown and loaded again on start
(expired ones dropped): a restart, an upgrade or a move to Redis logs nobody out. The file is
JSON lines, one item each, the same format ``parlour export`` writes and ``parlour import``
reads, written whole to a new file that then replaces the old, so a crash never leaves half.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import os
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
                await self.set(item["namespace"], item["key"], item["value"], ttl)

    async def close(self) -> None:
        if self.snapshot is not None:
            await asyncio.to_thread(_write_lines, self.snapshot, list(self.dump()))

    def dump(self) -> Iterator[str]:
        """Every live item as a JSON line, expiry as wall-clock time."""
        now, wall = self._clock(), time.time()
        for namespace, items in self._data.items():
            for key, entry in items.items():
                if entry.expires_at is not None and entry.expires_at <= now:
                    continue
                expires = None if entry.expires_at is None else wall + entry.expires_at - now
                yield json.dumps(
                    {"namespace": namespace, "key": key, "value": entry.raw, "expires": expires},
                    ensure_ascii=False,
                )

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
        expires_at = self._expires_at(ttl)
        self._file_expiry(namespace, key, None if entry is None else entry.expires_at, expires_at)
        self._data.setdefault(namespace, {})[key] = _Entry(raw, expires_at)
        self.changes.publish(ChangeEvent(namespace, key, ChangeKind.SET))
        return True

    async def remove(self, namespace: str, key: str) -> bool:
        self._reclaim()
        if self._live(namespace, key) is None:
            return False
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
        texts: dict[str, str] = {}
        for operation in operations:
            entry = self._live(namespace, operation.key)
            current = None if entry is None else entry.raw
            if not expectation_holds(operation, current):
                return False
            if operation.merge is not None:
                texts[operation.key] = merged(current, operation.merge, backend=self.name)
        for operation in operations:  # nothing awaited in between: atomic in this process
            if operation.write is DELETE:
                await self.remove(namespace, operation.key)
            elif isinstance(operation.write, str):
                await self.set(namespace, operation.key, operation.write, operation.ttl)
            elif operation.key in texts:
                await self.set(namespace, operation.key, texts[operation.key], operation.ttl)
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


def _write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(path.name + ".new")
    with fresh.open("w", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in lines)
        out.flush()
        os.fsync(out.fileno())
    fresh.chmod(0o600)
    fresh.replace(path)
