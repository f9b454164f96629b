"""Connections to PostgreSQL through asyncpg, with a deadline on everything, and the one place
where asyncpg's errors become Parlour's.

With :mod:`parlour.storage.postgres` and :mod:`parlour.storage.postgres_ratelimit`, the only
modules that import asyncpg. Why asyncpg and not psycopg 3: ``bench/pg_driver.py`` measured it
twice as fast on the primary-key read (6,070 vs 2,972 per second, 64 callers, pools of 16) and
level on commits, which the disk bounds; it also has a typed stub package.

- No statement runs longer than :attr:`Database.deadline` (twice ``PARLOUR_DATABASE_TIMEOUT``).
  Queueing for a pooled connection waits as long as the queue moves, that is, as long as some
  call answered in each ``PARLOUR_DATABASE_TIMEOUT`` of the wait: a burst on a busy host is load,
  not an outage (a wait bounded by the clock alone failed 64 callers on a pool of 10 while the
  server was healthy). A hung server (stopped, partitioned) answers nobody, so every waiter
  fails with ``StorageUnavailable`` within a timeout or two.
- A connection whose call timed out is terminated, never handed back: its state is unknown.
- Only calls that are safe to repeat are repeated, once, after a connection the server dropped
  (a restart); ``transact`` and rate-limit decisions are retried only on serialization failures
  and deadlocks (SQLSTATE 40001, 40P01), which PostgreSQL guarantees changed nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias, TypeVar
from urllib.parse import urlsplit

import asyncpg
import asyncpg.exceptions as px

from parlour.config import mask_url_password
from parlour.errors import ConfigurationError, ParlourError, StorageError, StorageUnavailable
from parlour.storage.postgres_schema import LATEST, SCHEMA_TABLE, UPGRADE_LOCK, migrations

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]
    """A pooled connection, as the work given to :meth:`Database.call` receives it."""

T = TypeVar("T")
log = logging.getLogger(__name__)

CONFLICT_RETRIES = 8
_RETRYABLE = (px.SerializationError, px.DeadlockDetectedError)
_UNAVAILABLE = (
    px.PostgresConnectionError,  # class 08, ConnectionDoesNotExistError too
    px.OperatorInterventionError,  # 57: shutdown, crash recovery, a cancelled statement
    px.InsufficientResourcesError,  # 53: disk full, out of memory, too many connections
    px.CannotConnectNowError,
    px.TransactionRollbackError,  # 40: what is left of serialization failures after retries
    px.ReadOnlySQLTransactionError,  # a hot standby answered: a failover is under way
    px.InvalidCatalogNameError,  # the database does not exist (yet)
    px.PostgresSystemError,  # 58: I/O errors on the server
)


def translate_postgres_error(exc: BaseException, where: str) -> StorageError:
    """The Parlour error for an asyncpg (or socket) error, with what to do about it."""
    if isinstance(exc, px.InvalidAuthorizationSpecificationError | px.InvalidPasswordError):
        return StorageUnavailable(
            f"PostgreSQL at {where} refused our credentials ({exc}); check DATABASE_URL",
            backend="postgres",
        )
    if isinstance(exc, px.InvalidCatalogNameError):
        return StorageUnavailable(
            f"PostgreSQL at {where} has no such database ({exc}); create it (createdb) "
            "or fix DATABASE_URL",
            backend="postgres",
        )
    if isinstance(exc, TimeoutError):
        return StorageUnavailable(
            f"PostgreSQL at {where} did not answer in time", backend="postgres"
        )
    if isinstance(exc, OSError | px.PostgresConnectionError | px.InterfaceError):
        return StorageUnavailable(
            f"PostgreSQL at {where} refused or dropped the connection ({exc}); "
            "start PostgreSQL or check DATABASE_URL",
            backend="postgres",
        )
    if isinstance(exc, _UNAVAILABLE):
        return StorageUnavailable(
            f"PostgreSQL at {where} cannot serve now: {exc}", backend="postgres"
        )
    return StorageError(
        f"PostgreSQL at {where} failed: {type(exc).__name__}: {exc}", backend="postgres"
    )


def where_of(url: str) -> str:
    """``host:port/dbname``: what errors and logs name, never the password."""
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2] or "localhost"  # h1:5432,h2:5432 for libpq's many
    return f"{hosts}{parts.path or '/'}"


_SESSION = {"application_name": "parlour"}  # so that pg_stat_activity names us
_NATIVE = (px.PostgresError, px.InterfaceError, px.InternalClientError, OSError, TimeoutError)


class Database:
    """One pool of asyncpg connections to one database, with Parlour's deadlines."""

    def __init__(self, url: str, *, timeout: float, pool_size: int) -> None:
        if urlsplit(url).scheme not in ("postgresql", "postgres"):
            raise ConfigurationError("DATABASE_URL must start with postgresql://")
        self.url = url
        self.where = where_of(url)
        self.shown_url = mask_url_password(url)
        self.timeout = timeout
        self.deadline = 2 * timeout
        self.pool_size = pool_size
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._warming: asyncio.Task[None] | None = None
        self._answered_at = 0.0
        """When a call last finished its work (monotonic): the news that the queue moves."""

    async def open(self) -> None:
        # min_size 0: opening never connects, so a server that is briefly down does not stop
        # the app from starting; the first call connects, within its deadline.
        self._pool = asyncpg.create_pool(
            self.url,
            min_size=0,
            max_size=self.pool_size,
            timeout=self.timeout,  # to connect
            command_timeout=None,  # each call carries its own deadline, below
            max_inactive_connection_lifetime=300,
            server_settings=_SESSION,
        )
        await self._pool
        # Connecting costs a SCRAM exchange and asyncpg's type introspection: done by the first
        # burst of requests all at once, on a loaded host, that took longer than the deadline.
        # So the pool fills in the background from the start, and a server that is down just
        # leaves it empty.
        self._warming = asyncio.create_task(self._warm(), name="parlour-pg-warm")

    async def _warm(self) -> None:
        assert self._pool is not None
        pool = self._pool
        # All at once: one connection's wait, not pool_size of them one after the other.
        held = await asyncio.gather(
            *(pool.acquire(timeout=10 * self.timeout) for _ in range(min(self.pool_size, 4))),
            return_exceptions=True,
        )
        for connection in held:
            if not isinstance(connection, BaseException):
                await pool.release(connection)

    async def close(self) -> None:
        if self._warming is not None:
            self._warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warming
            self._warming = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), self.deadline)
            except TimeoutError:
                pool.terminate()  # a hung server: do not wait for it to say goodbye

    def pool_counts(self) -> tuple[int, int]:
        """(idle, in use) connections of this process."""
        if self._pool is None:
            return 0, 0
        size, idle = self._pool.get_size(), self._pool.get_idle_size()
        return idle, size - idle

    async def connect(self) -> asyncpg.Connection[asyncpg.Record]:
        """A connection of its own, outside the pool (the change-event listener)."""
        try:
            async with asyncio.timeout(self.deadline):
                return await asyncpg.connect(
                    self.url, timeout=self.timeout, server_settings=_SESSION
                )
        except _NATIVE as exc:
            raise translate_postgres_error(exc, self.where) from exc

    async def call(
        self,
        work: Callable[[Connection], Awaitable[T]],
        *,
        idempotent: bool,
        retry_conflicts: bool = False,
        deadline: float | None = None,
    ) -> T:
        """Run ``work`` on a pooled connection, all of it within :attr:`deadline`."""
        if self._pool is None:
            raise StorageUnavailable("the PostgreSQL backend is not open", backend="postgres")
        ends = time.monotonic() + (deadline or self.deadline)
        dropped_once = conflicts = 0
        while True:
            try:
                return await self._once(self._pool, work, ends)
            except _RETRYABLE as exc:
                conflicts += 1
                if not retry_conflicts or conflicts > CONFLICT_RETRIES:
                    raise translate_postgres_error(exc, self.where) from exc
                await asyncio.sleep(0.002 * conflicts)  # let the winner commit first
            except (px.PostgresConnectionError, px.InterfaceError, OSError) as exc:
                # a connection the server dropped (a restart): fails on first use, sent nothing
                # we could know about, so only what is safe to repeat goes again, once
                dropped_once += 1
                if not idempotent or dropped_once > 1:
                    raise translate_postgres_error(exc, self.where) from exc
            except _NATIVE as exc:
                raise translate_postgres_error(exc, self.where) from exc
            if time.monotonic() >= ends:
                raise StorageUnavailable(
                    f"PostgreSQL at {self.where} did not answer in time", backend="postgres"
                )

    async def _once(
        self,
        pool: asyncpg.Pool[asyncpg.Record],
        work: Callable[[Connection], Awaitable[T]],
        ends: float,
    ) -> T:
        connection = await self._checkout(pool, ends)
        ends = max(ends, time.monotonic() + self.timeout)  # the statement's own time, at least
        try:
            async with asyncio.timeout(max(ends - time.monotonic(), 0.001)):
                result = await work(connection)
        except ParlourError:
            # Raised by our own code after its transaction was rolled back: the connection is
            # clean (a CorruptValue found by a merge).
            await pool.release(connection, timeout=self.timeout)
            raise
        except BaseException:
            # Its state is unknown (a statement may still run on a hung server): never reuse.
            connection.terminate()
            await pool.release(connection)
            raise
        self._answered_at = time.monotonic()
        await pool.release(connection, timeout=self.timeout)
        return result

    async def _checkout(self, pool: asyncpg.Pool[asyncpg.Record], ends: float) -> Connection:
        """A pooled connection: waited for until ``ends``, and past it for as long as some
        other call finishes in every ``timeout`` of the wait (the queue moves)."""
        while True:
            looked = time.monotonic()
            try:
                return await pool.acquire(timeout=max(ends - looked, self.timeout, 0.001))
            except TimeoutError:
                if self._answered_at < looked:  # nobody was answered while we waited
                    idle, busy = self.pool_counts()
                    raise StorageUnavailable(
                        f"no connection to PostgreSQL at {self.where} in time ({busy} of "
                        f"{self.pool_size} busy, {idle} idle; the server may be down or hung)",
                        backend="postgres",
                    ) from None

    # -- the schema -----------------------------------------------------------------------------

    async def schema_version(self, *, deadline: float | None = None) -> int | None:
        """None for a database without Parlour's schema, else the version it holds."""

        async def read(connection: Connection) -> int | None:
            exists = await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", SCHEMA_TABLE)
            if not exists:
                return None
            return int(await connection.fetchval(f"SELECT version FROM {SCHEMA_TABLE}"))  # noqa: S608

        return await self.call(read, idempotent=True, deadline=deadline)

    async def server_version(self) -> str:
        async def read(connection: Connection) -> str:
            return str(await connection.fetchval("SHOW server_version"))

        return await self.call(read, idempotent=True)

    async def upgrade(self) -> tuple[int, int]:
        """Apply every migration the database lacks, in one transaction; ``(from, to)``."""

        async def apply(connection: Connection) -> tuple[int, int]:
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", UPGRADE_LOCK)
                await connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version int NOT NULL)"
                )
                found = await connection.fetchval(f"SELECT version FROM {SCHEMA_TABLE}")  # noqa: S608
                before = 0 if found is None else int(found)
                if before > LATEST:
                    raise ConfigurationError(
                        f"the PostgreSQL schema at {self.where} is version {before}, newer than "
                        f"this Parlour knows ({LATEST}); upgrade Parlour"
                    )
                for version, sql in migrations():
                    if version > before:
                        await connection.execute(sql)
                await connection.execute(f"DELETE FROM {SCHEMA_TABLE}")  # noqa: S608
                await connection.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES ($1)", LATEST)  # noqa: S608
                return before, LATEST

        # DDL on a big table may take a while: an operator's command, given a minute on purpose.
        return await self.call(apply, idempotent=True, deadline=max(self.deadline, 60.0))
