"""Sliding-window rate limits on Redis: one Lua script, one round trip per decision.

Keys are ``{prefix}:{ratelimit:<bucket>}:<key>``: the keys of one decision share a hash tag, so
the script runs on Redis Cluster too. Every key expires with its window.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from parlour.storage.ratelimit import RateLimitStore, Verdict, hit_tokens
from parlour.storage.redis.backend import RedisBackend


class RedisRateLimits(RateLimitStore):
    def __init__(self, backend: RedisBackend, *, clock: Callable[[], float] | None = None) -> None:
        """``clock`` (seconds) replaces the Redis server's clock; it exists for tests only."""
        self._backend = backend
        self._clock = clock
        self._tokens = hit_tokens()

    def _key(self, bucket: str, key: str) -> str:
        # A salon's windows (``<slug>/<key>``, services.ratelimit) share its hash tag, so they
        # spread over a Cluster with the salons; the deployment's share one tag per policy.
        salon, mark, _ = key.partition("/")
        if mark:
            return f"{self._backend.prefix}:{{s.{salon}}}:ratelimit:{bucket}:{key}"
        return f"{self._backend.prefix}:{{ratelimit:{bucket}}}:{key}"

    async def hit(
        self, bucket: str, keys: Sequence[str], limit: int, window: float, *, record: bool = True
    ) -> Verdict:
        token = next(self._tokens)
        now = "" if self._clock is None else str(round(self._clock() * 1000))
        args: list[str | int] = [limit, round(window * 1000), token, "1" if record else "0", now]
        redis_keys = [self._key(bucket, key) for key in keys]
        # Not idempotent: a decision repeated after a lost reply would count the request twice.
        admitted, remaining, wait, reset = await self._backend.eval_script(
            "ratelimit", redis_keys, args, idempotent=False
        )
        return Verdict(bool(admitted), int(remaining), wait / 1000, reset / 1000, token)

    async def refund(self, bucket: str, keys: Sequence[str], token: str) -> None:
        client = self._backend.client
        for key in keys:
            await self._backend.call(
                functools.partial(client.zrem, self._key(bucket, key), token), idempotent=True
            )

    async def clear(self, bucket: str, keys: Sequence[str]) -> None:
        redis_keys = [self._key(bucket, key) for key in keys]
        await self._backend.call(
            functools.partial(self._backend.client.delete, *redis_keys), idempotent=True
        )
