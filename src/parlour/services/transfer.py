"""Moving data between stores: migrate, verify, export and import.

A copy never overwrites: each item is written only if the destination has nothing at its key
(set-if-absent), with the time it has left to live. So a copy can be repeated or resumed, and a
value written at the destination since (by dual-write, or by the app) always wins over the copy.
Verification compares counts and a SHA-256 of every item's stored text, key by key.

Neither counts dual-write's tombstones (``storage.dual``): a tombstone is the new store's note
that a key was deleted during the migration, which reads as nothing, so it is nothing to copy
or compare (a cancelled booking's freed units, its reminder taken back).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from parlour.storage.base import Backend, Condition
from parlour.storage.dual import TOMBSTONE

BATCH = 500


@dataclass(slots=True)
class Copied:
    seen: int = 0
    copied: int = 0
    present: int = 0
    """Already at the destination: left as it was."""
    expired: int = 0


async def copy(
    sources: Mapping[str, Backend],
    targets: Mapping[str, Backend],
    *,
    dry_run: bool = False,
    progress: Callable[[str, Copied], None] = lambda namespace, counts: None,
) -> dict[str, Copied]:
    """Copy each namespace of ``sources`` to the backend of the same namespace in ``targets``."""
    results = {}
    for namespace, source in sources.items():
        target, counts = targets[namespace], Copied()
        async for batch in source.entries(namespace, BATCH):
            there = await target.get_many(namespace, [key for key, _, _ in batch])
            for key, raw, ttl in batch:
                if raw == TOMBSTONE:
                    continue
                counts.seen += 1
                if key in there:  # a value, or a tombstone: a delete since wins too
                    counts.present += 1
                elif ttl is not None and ttl <= 0.001:
                    counts.expired += 1
                elif dry_run or await target.set(namespace, key, raw, ttl, Condition.IF_ABSENT):
                    counts.copied += 1
                else:
                    counts.present += 1
            progress(namespace, counts)
        results[namespace] = counts
    return results


@dataclass(slots=True)
class Compared:
    source: int = 0
    target: int = 0
    missing: list[str] = field(default_factory=list)
    """At the source, not at the target."""
    extra: list[str] = field(default_factory=list)
    """At the target, not at the source."""
    different: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not (self.missing or self.extra or self.different)


async def _checksums(backend: Backend, namespace: str) -> dict[str, str]:
    sums = {}
    async for batch in backend.scan(namespace, BATCH):
        for key, raw in batch:
            if raw != TOMBSTONE:
                sums[key] = hashlib.sha256(raw.encode()).hexdigest()
    return sums


async def compare(
    sources: Mapping[str, Backend], targets: Mapping[str, Backend]
) -> dict[str, Compared]:
    results = {}
    for namespace, source in sources.items():
        left = await _checksums(source, namespace)
        right = await _checksums(targets[namespace], namespace)
        results[namespace] = Compared(
            source=len(left),
            target=len(right),
            missing=sorted(left.keys() - right.keys()),
            extra=sorted(right.keys() - left.keys()),
            different=sorted(k for k in left.keys() & right.keys() if left[k] != right[k]),
        )
    return results
