"""Sliding-window rate limits on PostgreSQL: one call of ``parlour_ratelimit_hit`` per decision.

Each identity of a policy is one row of ``parlour_ratelimit`` holding its admitted hits; the
function locks the rows of one decision in key order, decides with the database's clock
(``clock_timestamp()``: instances with skewed clocks agree) and records, in one transaction.
Rows whose window has passed are reclaimed in batches by the backend's housekeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from parlour.storage.base import Backend
from parlour.storage.postgres import PostgresBackend
from parlour.storage.ratelimit import RateLimitStore, Verdict, hit_tokens

if TYPE_CHECKING:
    from parlour.storage.postgres_pool import Connection

RECLAIM_BATCH = 500


class PostgresRateLimits(RateLimitStore):
    def __init__(self, backend: Backend, *, clock: Callable[[], float] | None = None) -> None:
        """``clock`` (seconds) replaces the database's clock; it exists for tests only."""
        assert isinstance(backend, PostgresBackend)
        self._backend = backend
        self._clock = clock
        self._tokens = hit_tokens()
        backend.housekeeping.append(self.reclaim)

    async def hit(
        self, bucket: str, keys: Sequence[str], limit: int, window: float, *, record: bool = True
    ) -> Verdict:
        token = next(self._tokens)
        now = None if self._clock is None else round(self._clock() * 1000)

        async def decide(connection: Connection) -> Any:
            return await connection.fetchrow(
                "SELECT * FROM parlour_ratelimit_hit($1, $2, $3, $4, $5, $6, $7)",
                bucket, list(keys), limit, round(window * 1000), token, record, now,
            )  # fmt: skip

        # Not idempotent after a lost connection: a decision repeated would count twice.
        row = await self._backend.run(decide, idempotent=False, retry_conflicts=True)
        admitted, remaining, wait, reset = row
        return Verdict(bool(admitted), int(remaining), wait / 1000, reset / 1000, token)

    async def refund(self, bucket: str, keys: Sequence[str], token: str) -> None:
        async def take_back(connection: Connection) -> None:
            await connection.execute(
                "UPDATE parlour_ratelimit SET"
                " hits = hits[:array_position(tokens, $3) - 1]"
                " || hits[array_position(tokens, $3) + 1:],"
                " tokens = array_remove(tokens, $3)"
                " WHERE bucket = $1 AND key = ANY ($2) AND $3 = ANY (tokens)",
                bucket,
                list(keys),
                token,
            )

        await self._backend.run(take_back, idempotent=True)

    async def clear(self, bucket: str, keys: Sequence[str]) -> None:
        async def forget(connection: Connection) -> None:
            await connection.execute(
                "DELETE FROM parlour_ratelimit WHERE bucket = $1 AND key = ANY ($2)",
                bucket,
                list(keys),
            )

        await self._backend.run(forget, idempotent=True)

    async def reclaim(self) -> int:
        """Delete up to :data:`RECLAIM_BATCH` windows whose every hit has left."""

        async def delete(connection: Connection) -> int:
            return int(
                await connection.fetchval(
                    "WITH gone AS (DELETE FROM parlour_ratelimit WHERE ctid IN ("
                    " SELECT ctid FROM parlour_ratelimit WHERE expires_at <= clock_timestamp()"
                    " LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING 1) SELECT count(*) FROM gone",
                    RECLAIM_BATCH,
                )
            )

        return await self._backend.run(delete, idempotent=True)
