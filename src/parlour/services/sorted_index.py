"""An ordered set of strings kept in a key-value namespace and read in order from any point:
what the client list pages through (services.clients.listing). The storage contract has no
range reads, so the order is kept in the values, as a one-level B-tree:

    <prefix>            the root: [[lowest string, leaf id], ...] by lowest string; the first
                        leaf's lowest is "" (no root stored: one empty leaf, "0")
    <prefix>:<leaf id>  a leaf: its strings, sorted; at most MAX_LEAF of them

Only :meth:`SortedIndex.plan` changes it, as part of a ``transact`` its caller makes: the plan
expects each leaf it rewrites (and the root, when a leaf splits or an emptied one goes) as it
read it, so two writers of one leaf cannot both commit and writers of different leaves never
contend. A leaf routed to by an older root was rewritten by the split that changed the root,
so its expectation fails too. A read takes the root, then leaves in order, each batch of leaves
read with the root again: if the root changed meanwhile, it starts again after the last string
it gave. Every string a page shows is thus read in one leaf or two, whatever the set's size.
"""

from __future__ import annotations

import bisect
import secrets
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field

from parlour.storage.base import ABSENT, DELETE, JSON, KVStore

MAX_LEAF = 128
"""Strings in a leaf before it splits in two: a few kilobytes, read and written whole."""
_FIRST = ("", "0")


@dataclass(slots=True)
class Plan:
    """Writes and expectations for the caller's ``transact``."""

    writes: dict[str, JSON] = field(default_factory=dict)
    expect: dict[str, JSON] = field(default_factory=dict)


def _leaves(root: JSON) -> list[tuple[str, str]]:
    if not isinstance(root, list) or not root:
        return [_FIRST]
    return [(str(low), str(leaf)) for low, leaf in root]


class SortedIndex:
    def __init__(self, store: KVStore, prefix: str, *, leaf_size: int = MAX_LEAF) -> None:
        self._store = store
        self._root = prefix
        self._leaf_size = max(2, leaf_size)

    def _leaf(self, leaf_id: str) -> str:
        return f"{self._root}:{leaf_id}"

    async def plan(self, add: Iterable[str], remove: Iterable[str]) -> Plan:
        """What adds ``add`` and takes away ``remove`` (disjoint), as read now."""
        root = await self._store.get_item(self._root)
        leaves = _leaves(root)
        lows = [low for low, _ in leaves]
        changes: dict[int, tuple[set[str], set[str]]] = {}
        for index, strings in ((0, add), (1, remove)):
            for string in strings:
                at = bisect.bisect_right(lows, string) - 1
                changes.setdefault(at, (set(), set()))[index].add(string)
        found = await self._store.get_many([self._leaf(leaves[at][1]) for at in changes])
        plan, replaced = Plan(), dict[int, list[tuple[str, str]]]()
        for at, (added, removed) in sorted(changes.items()):
            low, leaf_id = leaves[at]
            key = self._leaf(leaf_id)
            current = found.get(key)
            plan.expect[key] = ABSENT if current is None else current
            strings = sorted((set(current or ()) - removed) | added)
            if not strings and at > 0:
                plan.writes[key] = DELETE
                replaced[at] = []
            elif len(strings) <= self._leaf_size:
                plan.writes[key] = strings
            else:
                replaced[at] = self._split(plan, low, leaf_id, strings)
        if replaced:
            plan.expect[self._root] = ABSENT if root is None else root
            plan.writes[self._root] = [
                list(entry) for at, leaf in enumerate(leaves) for entry in replaced.get(at, [leaf])
            ]
        return plan

    def _split(
        self, plan: Plan, low: str, leaf_id: str, strings: list[str]
    ) -> list[tuple[str, str]]:
        """Halves (or smaller) of a leaf grown too big: the first keeps its id and low."""
        size = self._leaf_size // 2
        parts = [strings[start : start + size] for start in range(0, len(strings), size)]
        entries = [(low, leaf_id)] + [(part[0], secrets.token_hex(6)) for part in parts[1:]]
        for (_, part_id), part in zip(entries, parts, strict=True):
            plan.writes[self._leaf(part_id)] = part
            plan.expect.setdefault(self._leaf(part_id), ABSENT)
        return entries

    async def spans(self, prefixes: Iterable[str]) -> dict[str, int]:
        """For each prefix, how many leaves its strings may lie in: read from the root alone,
        a measure of how many strings start with it, to choose the narrowest of several."""
        lows = [low for low, _ in _leaves(await self._store.get_item(self._root))]
        return {
            prefix: bisect.bisect_left(lows, prefix + "\U0010ffff")
            - bisect.bisect_right(lows, prefix)
            + 1
            for prefix in prefixes
        }

    async def strings_from(self, start: str, *, after: bool = False) -> AsyncGenerator[str]:
        """Every string from ``start`` on (``after``: past it), in order. One written or
        removed while the read goes on may or may not be seen."""
        batch = 2
        while True:
            root = await self._store.get_item(self._root)
            leaves = _leaves(root)
            at = bisect.bisect_right([low for low, _ in leaves], start) - 1
            restart = False
            while at < len(leaves) and not restart:
                keys = [self._leaf(leaf_id) for _, leaf_id in leaves[at : at + batch]]
                found = await self._store.get_many([self._root, *keys])
                if found.get(self._root) != root:  # a leaf split or went: read the root again
                    restart = True
                    break
                for key in keys:
                    for string in found.get(key) or ():
                        if string > start or (string == start and not after):
                            yield string
                            start, after = string, True
                at += batch
                batch = min(batch * 2, 16)
            if not restart:
                return
