"""Dual-write: the bridge while data moves from an old backend to a new one.

Writes go to the new backend, then to the old one (a failure there is logged and counted, never
silently dropped, so a rollback finds what was written). Reads go to the new backend first and
fall back to the old one, copying what they find into the new one with its TTL: a session made
before the switch keeps working after it, so a rolling restart onto Redis logs nobody out.

When the old backend cannot be read, a plain read answers from the new one alone (logged and
counted). A conditional write does not: whether a slot is free may only be known to the old
backend until the copy finishes, so it fails with the old backend's error rather than guess.

A delete, alone or inside ``transact``, leaves a tombstone in the new backend for
:data:`TOMBSTONE_TTL` seconds. It reads as "nothing", stops the fall-back to the old backend, and
makes a late copy (set-if-absent) fail: a logout racing another instance's first read of the same
session is never undone, and a booking's freed unit claim never comes back from an old backend
whose delete failed. Subscribers hear a tombstone as ``REMOVED`` (the write says so:
``Operation.announce``), and no read, scan, TTL or merge ever shows one. The tombstone is text that
is not JSON, so no value can be mistaken for it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace

from parlour.errors import CorruptValue, StorageError
from parlour.storage.base import ABSENT, DELETE, Backend, Condition, Operation, merged
from parlour.storage.events import ChangeKind

log = logging.getLogger(__name__)

TOMBSTONE = "\x00deleted"
TOMBSTONE_TTL = 24 * 3600.0
_ATTEMPTS = 8
"""Tries of a step whose view of the tombstones (read just before it) went stale meanwhile."""


class DualBackend(Backend):
    name = "dual-write"

    def __init__(self, new: Backend, old: Backend) -> None:
        super().__init__()
        self.new = new
        self.old = old
        self.changes = new.changes
        self.old_write_failures = 0
        self.old_read_failures = 0

    def describe(self) -> str:
        return f"dual-write: {self.new.describe()}, then {self.old.describe()}"

    async def open(self) -> None:
        """Open both backends: for a DualBackend used on its own (``Storage`` opens each backend
        it routes to once, and never calls this)."""
        await self.new.open()
        try:
            await self.old.open()
        except BaseException:
            await self.new.close()
            raise

    async def close(self) -> None:
        await self.old.close()
        await self.new.close()

    async def ping(self) -> None:
        await self.new.ping()
        await self.old.ping()

    async def start_events(self) -> None:
        await self.new.start_events()

    async def _also_old(self, what: str, write: Callable[[], Awaitable[object]]) -> None:
        try:
            await write()
        except StorageError as exc:
            self.old_write_failures += 1
            log.warning("dual-write: %s reached the new backend but not the old one: %s", what, exc)

    def _old_unreadable(self, namespace: str, exc: StorageError) -> None:
        self.old_read_failures += 1
        log.warning("dual-write: read %s from the new backend alone: %s", namespace, exc)

    async def _adopt(
        self, namespace: str, keys: Sequence[str], *, strict: bool = True
    ) -> dict[str, str]:
        """The new backend's text for ``keys``, after copying across what only the old has.

        ``strict=False`` answers from the new backend alone when the old one cannot be read.
        """
        found = await self.new.get_many(namespace, keys)
        missing = [key for key in keys if key not in found]
        if missing:
            try:
                olds = await self.old.get_many(namespace, missing)
                ttls = await self.old.ttls(namespace, list(olds))
            except StorageError as exc:
                if strict:
                    raise
                self._old_unreadable(namespace, exc)
                olds, ttls = {}, {}
            for key, raw in olds.items():
                if key in ttls and await self.new.set(
                    namespace, key, raw, ttls[key], Condition.IF_ABSENT
                ):
                    found[key] = raw
                else:  # expired meanwhile, or the new backend got it (or a tombstone) first
                    current = await self.new.get(namespace, key)
                    if current is not None:
                        found[key] = current
        return {key: raw for key, raw in found.items() if raw != TOMBSTONE}

    async def get(self, namespace: str, key: str) -> str | None:
        return (await self._adopt(namespace, [key], strict=False)).get(key)

    async def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        return await self._adopt(namespace, keys, strict=False)

    async def ttls(self, namespace: str, keys: Sequence[str]) -> dict[str, float | None]:
        live = await self._adopt(namespace, keys, strict=False)
        return await self.new.ttls(namespace, list(live))

    async def set(
        self,
        namespace: str,
        key: str,
        raw: str,
        ttl: float | None,
        condition: Condition = Condition.ALWAYS,
        expected: str | None = None,
    ) -> bool:
        if condition is Condition.ALWAYS:
            written = await self.new.set(namespace, key, raw, ttl)
        else:
            current = (await self._adopt(namespace, [key])).get(key)  # None: absent or deleted
            if condition is Condition.IF_ABSENT:
                written = current is None and await self._replace_absent(namespace, key, raw, ttl)
            elif condition is Condition.IF_PRESENT:
                written = await self._replace_present(namespace, key, raw, ttl, current)
            else:
                written = await self.new.set(namespace, key, raw, ttl, condition, expected)
        if written:
            await self._also_old(
                f"{namespace}/{key}", lambda: self.old.set(namespace, key, raw, ttl)
            )
        return written

    async def _replace_absent(self, namespace: str, key: str, raw: str, ttl: float | None) -> bool:
        """Write where there is nothing, or only a tombstone, atomically."""
        if await self.new.set(namespace, key, raw, ttl, Condition.IF_ABSENT):
            return True
        return await self.new.set(namespace, key, raw, ttl, Condition.IF_VALUE, TOMBSTONE)

    async def _replace_present(
        self, namespace: str, key: str, raw: str, ttl: float | None, current: str | None
    ) -> bool:
        """Write over a live value, never over a tombstone (no resurrection), atomically: the
        new backend's IF_PRESENT would take a tombstone for a value, so compare-and-set."""
        for _ in range(_ATTEMPTS):
            if current is None:
                return False
            if await self.new.set(namespace, key, raw, ttl, Condition.IF_VALUE, current):
                return True
            current = await self.new.get(namespace, key)
            current = None if current == TOMBSTONE else current
        raise StorageError(
            f"{namespace}/{key} changed under {_ATTEMPTS} attempts to replace it", backend=self.name
        )

    async def remove(self, namespace: str, key: str) -> bool:
        existed = (await self._adopt(namespace, [key], strict=False)).get(key) is not None
        await self.new.transact(namespace, [_tombstone(Operation(key, write=DELETE))])
        await self._also_old(f"{namespace}/{key}", lambda: self.old.remove(namespace, key))
        return existed

    async def touch(self, namespace: str, key: str, ttl: float) -> bool:
        if (await self._adopt(namespace, [key], strict=False)).get(key) is None:
            return False
        touched = await self.new.touch(namespace, key, ttl)
        await self._also_old(f"{namespace}/{key}", lambda: self.old.touch(namespace, key, ttl))
        return touched

    async def get_and_touch(self, namespace: str, key: str, ttl: float) -> str | None:
        raw = await self.new.get_and_touch(namespace, key, ttl)
        if raw == TOMBSTONE:  # it slid the tombstone too: give it back its full life
            await self.new.touch(namespace, key, TOMBSTONE_TTL)
            return None
        if raw is None:
            raw = await self.get(namespace, key)
            if raw is not None:
                await self.new.touch(namespace, key, ttl)
        if raw is not None:
            # The old copy's expiry slides too: left longer than the new one's, it came back
            # through the fall-back read once the new one expired (found by the model test).
            await self._also_old(f"{namespace}/{key}", lambda: self.old.touch(namespace, key, ttl))
        return raw

    async def transact(self, namespace: str, operations: Sequence[Operation]) -> bool:
        await self._adopt(namespace, [operation.key for operation in operations])
        # A delete leaves a tombstone: were it a real delete, a read would fall back to the old
        # backend, and if that one's delete failed, the freed claim would come back from there.
        buried = [_tombstone(o) if o.write is DELETE else o for o in operations]
        # "Nothing there" must also accept a tombstone (a cancelled booking's freed units), and
        # a merge into a tombstone starts from nothing. Which keys hold one is read just before
        # the atomic step, so a step that failed is tried again if that changed meanwhile: a
        # merge never fails for it, and an expectation fails only when it really does not hold.
        for _ in range(_ATTEMPTS):
            deleted = await self._tombstones(namespace, buried)
            steps = [_over_tombstone(o) if o.key in deleted else o for o in buried]
            # A merge that met a tombstone written since it looked (a delete in between) is
            # refused as corrupt: like a failed expectation, it stands only if that did not change.
            refused: CorruptValue | None = None
            try:
                if await self.new.transact(namespace, steps):
                    break
            except CorruptValue as exc:
                refused = exc
            if await self._tombstones(namespace, buried) == deleted:
                if refused is not None:
                    raise refused
                return False
        else:
            return False
        for operation in operations:
            if operation.write is not None or operation.merge is not None:
                await self._also_old(operation.key, self._replay(namespace, operation))
        return True

    async def _tombstones(self, namespace: str, operations: Sequence[Operation]) -> frozenset[str]:
        """The keys of ``operations`` that expect nothing or merge, and hold a tombstone."""
        keys = [o.key for o in operations if o.expect is ABSENT or o.merge is not None]
        if not keys:
            return frozenset()
        found = await self.new.get_many(namespace, keys)
        return frozenset(key for key, raw in found.items() if raw == TOMBSTONE)

    def _replay(self, namespace: str, operation: Operation) -> Callable[[], Awaitable[object]]:
        """A transact's write, repeated on the old backend without its conditions (a merge as a
        merge: merges commute, so the old backend's index ends up the same)."""
        if operation.merge is not None:
            merge = Operation(operation.key, merge=operation.merge, ttl=operation.ttl)
            return lambda: self.old.transact(namespace, [merge])
        if operation.write is DELETE:
            return lambda: self.old.remove(namespace, operation.key)
        text = str(operation.write)
        return lambda: self.old.set(namespace, operation.key, text, operation.ttl)

    async def scan(self, namespace: str, batch_size: int) -> AsyncIterator[list[tuple[str, str]]]:
        seen: set[str] = set()
        async for batch in self.new.scan(namespace, batch_size):
            seen.update(key for key, _ in batch)
            live = [(key, raw) for key, raw in batch if raw != TOMBSTONE]
            if live:
                yield live
        try:
            async for batch in self.old.scan(namespace, batch_size):
                rest = [(key, raw) for key, raw in batch if key not in seen]
                if rest:
                    yield rest
        except StorageError as exc:
            self._old_unreadable(namespace, exc)


def _tombstone(operation: Operation) -> Operation:
    """A delete as the new backend stores it: a tombstone, announced as a removal."""
    return replace(
        operation, write=TOMBSTONE, ttl=TOMBSTONE_TTL, announce=ChangeKind.REMOVED, merge=None
    )


def _over_tombstone(operation: Operation) -> Operation:
    """``operation`` for a key whose tombstone the new backend holds: "absent" means the
    tombstone, and a merge starts from an empty object (unless it expects a value, which a
    deleted key does not hold: that fails as it should)."""
    if operation.expect is ABSENT:
        operation = replace(operation, expect=TOMBSTONE)
    if operation.merge is not None and operation.expect in (None, TOMBSTONE):
        start = merged(None, operation.merge)
        operation = replace(operation, expect=TOMBSTONE, write=start, merge=None)
    return operation
