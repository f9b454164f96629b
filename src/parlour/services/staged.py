"""What a change adds to its own ``transact``: writes, merges and expectations that commit with
it or not at all. A booking's claims, its day index and client index merges and its messages are
each staged and summed into one step; kept apart from all of them, so that the bookings, clients
and outbox packages share it without importing one another."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parlour.storage.base import JSON


@dataclass(frozen=True, slots=True)
class Staged:
    """What a change adds to its own ``transact`` so that it commits with the change."""

    writes: dict[str, JSON] = field(default_factory=dict)
    merge: dict[str, dict[str, Any]] = field(default_factory=dict)
    expect: dict[str, JSON] = field(default_factory=dict)

    def __add__(self, other: Staged) -> Staged:
        merge = {key: dict(changes) for key, changes in self.merge.items()}
        for key, changes in other.merge.items():
            merge.setdefault(key, {}).update(changes)
        return Staged({**self.writes, **other.writes}, merge, {**self.expect, **other.expect})
