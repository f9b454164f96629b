"""Sliding-window rate limits: the storage side.

A window is a log of admitted hits per key (a sorted set on Redis, a deque in memory), not an
approximation: there are never more than ``limit`` admissions in any ``window`` seconds. One
decision covers several keys (an e-mail AND an IP): it admits only if every key admits, then
records the hit against every key, all in one atomic step; a refused request records nothing.
"""

from __future__ import annotations

import abc
import itertools
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

RECLAIM_PER_CALL = 32


def hit_tokens() -> Iterator[str]:
    """Names for hits, unique across processes without a system call each."""
    prefix = secrets.token_hex(6)
    return (f"{prefix}{n:x}" for n in itertools.count())


class Verdict(NamedTuple):
    allowed: bool
    remaining: int
    """Admissions left for the most constrained key, after this one."""
    retry_after: float
    """Seconds until a refused request could be admitted; 0 when admitted."""
    reset: float
    """Seconds until the most constrained key regains an admission."""
    token: str
    """Identifies this hit, for :meth:`RateLimitStore.refund`."""


class RateLimitStore(abc.ABC):
    """Windows of one process (memory) or of every instance (Redis).

    ``bucket`` names the policy; keys of one decision share it (on Redis, one Cluster slot).
    """

    @abc.abstractmethod
    async def hit(
        self, bucket: str, keys: Sequence[str], limit: int, window: float, *, record: bool = True
    ) -> Verdict:
        """Decide for all ``keys`` at once; with ``record``, count an admission against each."""

    @abc.abstractmethod
    async def refund(self, bucket: str, keys: Sequence[str], token: str) -> None:
        """Take back an admitted hit (a login that succeeded is not an attempt to punish)."""

    @abc.abstractmethod
    async def clear(self, bucket: str, keys: Sequence[str]) -> None:
        """Forget every hit of ``keys``: an operator unblocking a client."""

    async def close(self) -> None:
        """Release what the store holds."""


class MemoryRateLimits(RateLimitStore):
    """The same decisions in one process. Idle windows are reclaimed a few per call."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens = hit_tokens()
        # bucket -> key -> admitted hit times, oldest first; keys ordered by their last hit, so
        # the front of each bucket is the first to go idle.
        self._windows: dict[str, OrderedDict[str, deque[tuple[float, str]]]] = {}

    @classmethod
    def for_backend(cls, backend: object) -> MemoryRateLimits:
        """The registry's factory: windows of this process, whatever the backend."""
        return cls()

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._windows.values())

    async def hit(
        self, bucket: str, keys: Sequence[str], limit: int, window: float, *, record: bool = True
    ) -> Verdict:
        now = self._clock()
        windows = self._windows.setdefault(bucket, OrderedDict())
        self._reclaim(windows, now - window)
        logs = []
        for key in keys:
            hits = windows.get(key, deque())
            while hits and hits[0][0] <= now - window:
                hits.popleft()
            logs.append(hits)
        token = next(self._tokens)
        # A key is full while `limit` hits are in its window; it frees up when the hit that is
        # `limit` places from the newest leaves the window.
        full = [h[len(h) - limit][0] + window - now for h in logs if len(h) >= limit]
        if full:
            wait = max(full)
            return Verdict(False, 0, wait, wait, token)
        if record:
            for key, hits in zip(keys, logs, strict=True):
                hits.append((now, token))
                windows[key] = hits
                windows.move_to_end(key)
        remaining = min((limit - len(h) for h in logs), default=limit)
        reset = max(
            (h[0][0] + window - now for h in logs if h and limit - len(h) == remaining), default=0.0
        )
        return Verdict(True, remaining, 0.0, reset, token)

    def _reclaim(self, windows: OrderedDict[str, deque[tuple[float, str]]], cutoff: float) -> None:
        for _ in range(RECLAIM_PER_CALL):
            if not windows:
                return
            key, hits = next(iter(windows.items()))
            if hits and hits[-1][0] > cutoff:
                return  # the least recently hit key is still live, so every key is
            del windows[key]

    async def refund(self, bucket: str, keys: Sequence[str], token: str) -> None:
        windows = self._windows.get(bucket, OrderedDict())
        for key in keys:
            hits = windows.get(key)
            if hits is not None:
                windows[key] = deque(hit for hit in hits if hit[1] != token)

    async def clear(self, bucket: str, keys: Sequence[str]) -> None:
        windows = self._windows.get(bucket, OrderedDict())
        for key in keys:
            windows.pop(key, None)
