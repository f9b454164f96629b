"""The durable shared backend: PostgreSQL, for data every instance on every host shares.

Layout (:mod:`parlour.storage.postgres_schema`): one table, ``parlour_kv``, keyed by
``(namespace, key)``; listing a namespace walks that primary key in key order, so it costs
O(namespace). Each write is one statement (the conditions in its ``WHERE`` or ``ON CONFLICT``)
and notifies in the same statement, so the event is sent exactly when the write commits.
``transact`` is one call of the ``parlour_transact`` function: every key's row locked in key
order inside one transaction.

TTL: ``expires_at`` is compared with the server's clock on every read, so an expired item is
gone the moment it expires; a background task of each process deletes expired rows in batches of
:data:`RECLAIM_BATCH` (never one unbounded ``DELETE``), skipping rows another transaction holds.

Change events: ``NOTIFY parlour_changes`` with ``[namespace, key, kind]`` (at most about 3 kB,
under PostgreSQL's 8,000-byte limit), heard on one dedicated connection per process. Notifications
sent while that connection was down are lost, so after it comes back every subscriber receives
``RESYNC``, as on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from parlour.config import Settings
from parlour.errors import ConfigurationError, StorageError, StorageUnavailable
from parlour.storage.base import (
    ABSENT,
    DELETE,
    Backend,
    Condition,
    Operation,
    Sample,
    expectation_holds,
    merged,
    split_namespace,
)
from parlour.storage.events import ChangeKind
from parlour.storage.postgres_events import NotifyListener
from parlour.storage.postgres_pool import Database
from parlour.storage.postgres_schema import LATEST

if TYPE_CHECKING:
    from parlour.storage.postgres_pool import Connection

T = TypeVar("T")

CHANNEL = "parlour_changes"
RECLAIM_BATCH = 500
BYTES_PER_SECOND = 8 * 1024 * 1024
RECLAIM_INTERVAL = 5.0
_LIVE = "(expires_at IS NULL OR expires_at > now())"
_SCOPE = "SELECT set_config('parlour.salon', $1, false)"
_EXPIRY = "now() + make_interval(secs => $4)"

_SET = {
    Condition.ALWAYS: (
        f"INSERT INTO parlour_kv AS kv VALUES ($1, $2, $3, {_EXPIRY})"  # noqa: S608
        " ON CONFLICT (namespace, key) DO UPDATE"
        " SET value = excluded.value, expires_at = excluded.expires_at RETURNING 1"
    ),
    # An expired row is as good as none: it is replaced, in the same statement.
    Condition.IF_ABSENT: (
        f"INSERT INTO parlour_kv AS kv VALUES ($1, $2, $3, {_EXPIRY})"  # noqa: S608
        " ON CONFLICT (namespace, key) DO UPDATE"
        " SET value = excluded.value, expires_at = excluded.expires_at"
        " WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= now() RETURNING 1"
    ),
    Condition.IF_PRESENT: (
        f"UPDATE parlour_kv SET value = $3, expires_at = {_EXPIRY}"  # noqa: S608
        f" WHERE namespace = $1 AND key = $2 AND {_LIVE} RETURNING 1"
    ),
    Condition.IF_VALUE: (
        f"UPDATE parlour_kv SET value = $3, expires_at = {_EXPIRY}"  # noqa: S608
        f" WHERE namespace = $1 AND key = $2 AND {_LIVE} AND value = $7 RETURNING 1"
    ),
}


_LOCK = "SELECT k, v, placed FROM parlour_lock($1, $2)"
_TRANSACT = "SELECT parlour_transact($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"


def _notifying(statement: str) -> str:
    """``statement`` whose returned rows each send the event ``$6`` on channel ``$5``."""
    return f"WITH written AS ({statement}) SELECT pg_notify($5, $6) FROM written"  # noqa: S608


class PostgresBackend(Backend):
    name = "postgres"

    def __init__(self, url: str, *, timeout: float = 0.5, pool_size: int = 10) -> None:
        super().__init__()
        self.database = Database(url, timeout=timeout, pool_size=pool_size)
        self.url = url
        self.listener = NotifyListener(self.database, self.changes, CHANNEL)
        self._reclaimer: asyncio.Task[None] | None = None
        self._schema_checked = False
        self._schema_lock = asyncio.Lock()
        self.housekeeping: list[Callable[[], Awaitable[int]]] = [self.reclaim]
        """Bounded clean-ups the background task repeats while each returns a full batch."""

    @classmethod
    def from_settings(cls, settings: Settings) -> PostgresBackend:
        assert settings.database_url, "the registry checked that DATABASE_URL is set"
        return cls.from_url(settings.database_url, settings)

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> PostgresBackend:
        return cls(url, timeout=settings.database_timeout, pool_size=settings.database_pool_size)

    def describe(self) -> str:
        return f"postgres ({self.database.shown_url})"

    @property
    def deadline(self) -> float:
        return self.database.deadline

    @property
    def reconnects(self) -> int:
        """Times the change-event connection came back."""
        return self.listener.reconnects

    async def open(self) -> None:
        await self.database.open()
        self._reclaimer = asyncio.create_task(self._reclaim_forever(), name="parlour-pg-reclaim")

    async def close(self) -> None:
        await self.listener.close()
        if self._reclaimer is not None:
            self._reclaimer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reclaimer
            self._reclaimer = None
        await self.database.close()

    # -- the schema -----------------------------------------------------------------------------

    async def ready_to_serve(self) -> None:
        """Raise ``ConfigurationError`` when the schema is older than this Parlour needs.

        An empty database is given the schema (a first start needs no extra step); an older one
        is left alone, for ``parlour db upgrade``, which an operator runs once for all instances.
        """
        # Once per process, usually on its first request, while the pool is still connecting:
        # given a few deadlines, so that a cold start on a loaded host is not a 503.
        version = await self.database.schema_version(deadline=5 * self.deadline)
        if version is None:
            await self.database.upgrade()
        elif version < LATEST:
            raise ConfigurationError(
                f"the PostgreSQL schema at {self.database.where} is version {version}; this "
                f"Parlour needs version {LATEST}: run `parlour db upgrade`, then start again"
            )
        elif version > LATEST:
            raise ConfigurationError(
                f"the PostgreSQL schema at {self.database.where} is version {version}, newer "
                f"than this Parlour knows ({LATEST}); upgrade Parlour"
            )
        self._schema_checked = True

    async def upgrade_schema(self) -> str:
        before, after = await self.database.upgrade()
        self._schema_checked = True
        if before == after:
            return f"{self.describe()}: schema version {after}, up to date"
        return f"{self.describe()}: schema upgraded from version {before} to {after}"

    async def about(self) -> str:
        server = await self.database.server_version()
        version = await self.database.schema_version()
        if version is None:
            return f"PostgreSQL {server}, no schema yet (`parlour db upgrade` or the first start)"
        state = "current" if version == LATEST else f"needs {LATEST}: run `parlour db upgrade`"
        return f"PostgreSQL {server}, schema version {version} ({state})"

    async def _ensure_schema(self) -> None:
        async with self._schema_lock:  # the first burst of calls checks once, not each
            if self._schema_checked:
                return
            try:
                await self.ready_to_serve()
            except ConfigurationError as exc:  # at run time, an outage of this backend: 503
                raise StorageUnavailable(str(exc), backend=self.name) from exc

    async def run(
        self,
        work: Callable[[Connection], Awaitable[T]],
        *,
        idempotent: bool,
        retry_conflicts: bool = False,
        size: int = 0,
        salon: str = "",
    ) -> T:
        """``work`` on a pooled connection within the deadline, for modules with their own SQL.

        ``size``: bytes sent. A 16 MB value took 0.5 s to write on an idle 2-core machine, so
        large values get time to travel on top of the deadline (at :data:`BYTES_PER_SECOND`).
        ``salon``: the only salon whose rows ``work`` may see or write (row-level security,
        schema version 2); none: a single salon's and the deployment's own; ``*``: every salon's.
        """
        if not self._schema_checked:
            await self._ensure_schema()
        if salon:
            unscoped = work

            async def scoped(connection: Connection) -> T:
                # For this use of the connection only: the pool's reset on release (RESET ALL)
                # forgets it before anyone else is given the connection.
                await connection.execute(_SCOPE, salon)
                return await unscoped(connection)

            work = scoped
        return await self.database.call(
            work,
            idempotent=idempotent,
            retry_conflicts=retry_conflicts,
            deadline=self.deadline + size / BYTES_PER_SECOND if size else None,
        )

    async def _call(
        self, statement: str, *args: Any, idempotent: bool = True, size: int = 0, salon: str = ""
    ) -> Any:
        """``statement`` with ``args``; on the rows of the salon of the namespace ``args``
        start with (every statement of the contract names its namespace first)."""
        if not salon and args and isinstance(args[0], str):
            salon = split_namespace(args[0])[1] or ""

        async def fetch(connection: Connection) -> Any:
            return await connection.fetch(statement, *args)

        return await self.run(fetch, idempotent=idempotent, size=size, salon=salon)

    # -- the contract ---------------------------------------------------------------------------

    async def ping(self) -> None:
        async def select(connection: Connection) -> None:
            await connection.fetchval("SELECT 1")

        await self.database.call(select, idempotent=True)

    def _event(self, namespace: str, key: str, kind: ChangeKind) -> str:
        return json.dumps([namespace, key, kind.value], ensure_ascii=False)

    async def get(self, namespace: str, key: str) -> str | None:
        rows = await self._call(
            f"SELECT value FROM parlour_kv WHERE namespace = $1 AND key = $2 AND {_LIVE}",  # noqa: S608
            namespace,
            key.encode(),
        )
        return bytes(rows[0][0]).decode() if rows else None

    async def set(
        self,
        namespace: str,
        key: str,
        raw: str,
        ttl: float | None,
        condition: Condition = Condition.ALWAYS,
        expected: str | None = None,
    ) -> bool:
        args: list[Any] = [namespace, key.encode(), raw.encode(), ttl, CHANNEL]
        args.append(self._event(namespace, key, ChangeKind.SET))
        if condition is Condition.IF_VALUE:
            args.append(None if expected is None else expected.encode())
        # Repeated after a lost connection, a claim would report "taken" to its own taker.
        idempotent = condition not in (Condition.IF_ABSENT, Condition.IF_VALUE)
        statement = _notifying(_SET[condition])
        rows = await self._call(statement, *args, idempotent=idempotent, size=len(raw))
        return bool(rows)

    async def remove(self, namespace: str, key: str) -> bool:
        statement = (
            "WITH gone AS (DELETE FROM parlour_kv"  # noqa: S608
            f" WHERE namespace = $1 AND key = $2 AND {_LIVE} RETURNING 1)"
            " SELECT pg_notify($3, $4) FROM gone"
        )
        event = self._event(namespace, key, ChangeKind.REMOVED)
        rows = await self._call(statement, namespace, key.encode(), CHANNEL, event)
        return bool(rows)

    async def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        rows = await self._call(
            "SELECT key, value FROM parlour_kv"  # noqa: S608
            f" WHERE namespace = $1 AND key = ANY ($2::bytea[]) AND {_LIVE}",
            namespace,
            [key.encode() for key in keys],
        )
        return {bytes(key).decode(): bytes(value).decode() for key, value in rows}

    async def ttls(self, namespace: str, keys: Sequence[str]) -> dict[str, float | None]:
        rows = await self._call(
            "SELECT key, extract(epoch FROM expires_at - now())::float8 FROM parlour_kv"  # noqa: S608
            f" WHERE namespace = $1 AND key = ANY ($2::bytea[]) AND {_LIVE}",
            namespace,
            [key.encode() for key in keys],
        )
        return {bytes(key).decode(): (None if left is None else float(left)) for key, left in rows}

    async def touch(self, namespace: str, key: str, ttl: float) -> bool:
        rows = await self._call(
            "UPDATE parlour_kv SET expires_at = now() + make_interval(secs => $3)"  # noqa: S608
            f" WHERE namespace = $1 AND key = $2 AND {_LIVE} RETURNING 1",
            namespace,
            key.encode(),
            ttl,
        )
        return bool(rows)

    async def get_and_touch(self, namespace: str, key: str, ttl: float) -> str | None:
        rows = await self._call(
            "UPDATE parlour_kv SET expires_at = now() + make_interval(secs => $3)"  # noqa: S608
            f" WHERE namespace = $1 AND key = $2 AND {_LIVE} RETURNING value",
            namespace,
            key.encode(),
            ttl,
        )
        return bytes(rows[0][0]).decode() if rows else None

    async def transact(self, namespace: str, operations: Sequence[Operation]) -> bool:
        ordered = sorted(operations, key=lambda operation: operation.key.encode())
        keys = [operation.key.encode() for operation in ordered]
        merging = any(operation.merge is not None for operation in ordered)

        def arguments(current: dict[bytes, str | None]) -> list[Any]:
            expect: list[str | None] = []
            expected: list[bytes | None] = []
            write: list[str | None] = []
            values: list[bytes | None] = []
            events: list[str] = []
            for key, operation in zip(keys, ordered, strict=True):
                if operation.expect is None:
                    expect.append(None)
                    expected.append(None)
                elif operation.expect is ABSENT:
                    expect.append("absent")
                    expected.append(None)
                else:
                    expect.append("equal")
                    expected.append(str(operation.expect).encode())
                removal = operation.write is DELETE or operation.announce is ChangeKind.REMOVED
                kind = ChangeKind.REMOVED if removal else ChangeKind.SET
                if operation.merge is not None:
                    write.append("set")
                    text = merged(current.get(key), operation.merge, backend=self.name)
                    values.append(text.encode())
                elif operation.write is None:
                    write.append(None)
                    values.append(None)
                elif operation.write is DELETE:
                    write.append("delete")
                    values.append(None)
                else:
                    write.append("removal" if removal else "set")
                    values.append(str(operation.write).encode())
                events.append(self._event(namespace, operation.key, kind))
            ttls = [operation.ttl for operation in ordered]
            return [namespace, CHANNEL, keys, expect, expected, write, values, ttls, events]

        async def apply(connection: Connection) -> bool:
            return bool(await connection.fetchval(_TRANSACT, *arguments({}), []))

        async def merge_then_apply(connection: Connection) -> bool:
            # A merge needs the current text, computed here by the shared helper: lock and read
            # every key first, then decide and write, inside one transaction.
            transaction = connection.transaction()
            await transaction.start()
            try:
                locked = await connection.fetch(_LOCK, namespace, keys)
                current = {
                    bytes(row[0]): None if row[1] is None else bytes(row[1]).decode()
                    for row in locked
                }
                placed = [bytes(row[0]) for row in locked if row[2]]
                # Expectations first, as every backend does: a step whose expectation fails
                # changes nothing and says False, even where its merge could not apply.
                done = all(
                    expectation_holds(op, current.get(key))
                    for key, op in zip(keys, ordered, strict=True)
                ) and bool(await connection.fetchval(_TRANSACT, *arguments(current), placed))
            except BaseException:
                await transaction.rollback()
                raise
            await (transaction.commit() if done else transaction.rollback())
            return done

        # Not idempotent after a lost connection (its own writes would fail its expectations);
        # a serialization failure or deadlock rolled everything back, so that is retried.
        work = merge_then_apply if merging else apply
        size = sum(len(op.write) for op in ordered if isinstance(op.write, str))
        return await self.run(
            work,
            idempotent=False,
            retry_conflicts=True,
            size=size,
            salon=split_namespace(namespace)[1] or "",
        )

    async def scan(self, namespace: str, batch_size: int) -> AsyncIterator[list[tuple[str, str]]]:
        # Keyset pagination on the primary key: each batch is one short indexed read.
        after = b""
        while True:
            # The empty key is the smallest there is, so the first page starts at it, inclusive.
            beyond = ">" if after else ">="
            rows = await self._call(
                "SELECT key, value FROM parlour_kv WHERE namespace = $1"  # noqa: S608
                f" AND key {beyond} $2 AND {_LIVE} ORDER BY key LIMIT $3",
                namespace,
                after,
                batch_size,
            )
            batch = [(bytes(key).decode(), bytes(value).decode()) for key, value in rows]
            if batch:
                yield batch
            if len(rows) < batch_size:
                return
            after = bytes(rows[-1][0])

    # -- housekeeping and metrics ---------------------------------------------------------------

    async def reclaim(self) -> int:
        """Delete up to :data:`RECLAIM_BATCH` expired items; how many went."""
        rows = await self._call(
            "WITH gone AS (DELETE FROM parlour_kv WHERE ctid IN ("
            " SELECT ctid FROM parlour_kv WHERE expires_at <= now()"
            " LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING 1) SELECT count(*) FROM gone",
            RECLAIM_BATCH,
            salon="*",  # expired rows of every salon
        )
        return int(rows[0][0])

    async def _reclaim_forever(self) -> None:
        while True:
            await asyncio.sleep(RECLAIM_INTERVAL)
            for task in self.housekeeping:
                with contextlib.suppress(StorageError):
                    for _ in range(100):  # bounded: at most 100 batches before the next pause
                        if await task() < RECLAIM_BATCH:
                            break

    async def metrics(self) -> list[Sample]:
        idle, busy = self.database.pool_counts()
        samples = [
            Sample("parlour_postgres_pool_connections", _POOL, idle, (("state", "idle"),)),
            Sample("parlour_postgres_pool_connections", _POOL, busy, (("state", "in_use"),)),
            Sample("parlour_pubsub_reconnects", _RECONNECTS, self.reconnects, counter=True),
        ]
        try:
            await self.ping()
        except StorageError:
            return [*samples, Sample("parlour_postgres_up", _UP, 0)]
        return [*samples, Sample("parlour_postgres_up", _UP, 1)]

    # -- change events --------------------------------------------------------------------------

    async def start_events(self) -> None:
        await self.listener.start()


_POOL = "This process's PostgreSQL connections"
_RECONNECTS = "Times the change-event connection came back"
_UP = "1 when PostgreSQL answered the last scrape"
