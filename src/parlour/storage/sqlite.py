"""The embedded durable backend: one SQLite file, shared safely by every process on one host.

- WAL journal with ``synchronous=FULL``: a commit is on disk before it is acknowledged, so neither
  ``kill -9`` nor a power cut loses an acknowledged write.
- sqlite3 blocks, so nothing runs on the event loop: reads use a small pool of threads, one
  connection each; writes go to one writer thread that commits them in groups
  (:mod:`parlour.storage.sqlite_writer`). SQLite's busy handler is not fair (four threads of one
  process writing at once starved one of them for 5 s), so a process queues its own writes in
  order and leaves the busy timeout to contention between processes.
- Writes take the write lock up front (``BEGIN IMMEDIATE``): no upgrade deadlocks between
  processes; a file kept busy by another process longer than :data:`BUSY_TIMEOUT` is reported
  unavailable.
- Each write records a row in ``changes`` in the same transaction. Subscribers, in this process or
  any other, poll that table every :data:`POLL_INTERVAL` seconds: events arrive within about
  50 ms. Rows older than :data:`CHANGE_RETENTION` are pruned; a subscriber further behind than
  that receives ``RESYNC``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from parlour.config import Settings
from parlour.errors import StorageError, StorageUnavailable
from parlour.storage.base import (
    DELETE,
    Backend,
    Condition,
    Operation,
    announcement,
    condition_holds,
    expectation_holds,
    merged,
)
from parlour.storage.events import ChangeEvent, ChangeKind
from parlour.storage.sqlite_writer import GroupCommitWriter

T = TypeVar("T")

BUSY_TIMEOUT = 5.0
POLL_INTERVAL = 0.05
CHANGE_RETENTION = 300.0
RECLAIM_PER_WRITE = 32
_READERS = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    expires_at REAL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    at        REAL NOT NULL
);
"""
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_PUT = "INSERT OR REPLACE INTO kv (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)"


def translate_sqlite_error(
    exc: sqlite3.Error | sqlite3.Warning | OSError, path: Path
) -> StorageError:
    """The Parlour error for a native sqlite3 (or file system) error."""
    if isinstance(exc, sqlite3.OperationalError | OSError):
        return StorageUnavailable(f"SQLite at {path} is unavailable: {exc}", backend="sqlite")
    return StorageError(f"SQLite at {path} failed: {type(exc).__name__}: {exc}", backend="sqlite")


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.path = path
        self._clock = clock
        self._readers: ThreadPoolExecutor | None = None
        self._writer: GroupCommitWriter | None = None
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._polling = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: Settings) -> SQLiteBackend:
        return cls(settings.database_path)

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> SQLiteBackend:
        return cls(Path(url.removeprefix("sqlite:")))

    def describe(self) -> str:
        return f"sqlite ({self.path})"

    async def open(self) -> None:
        self._readers = ThreadPoolExecutor(_READERS, thread_name_prefix="parlour-sqlite-read")
        self._writer = GroupCommitWriter(self._connect, self._translate)
        self._writer.start()
        await self._run_write(self._create_schema)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._writer is not None:
            await asyncio.to_thread(self._writer.stop)
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    # -- plumbing -------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def _translate(self, exc: Exception) -> Exception:
        if isinstance(exc, sqlite3.Error | sqlite3.Warning | OSError):
            return translate_sqlite_error(exc, self.path)
        return exc

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._readers is None:
            raise StorageUnavailable("the SQLite backend is not open", backend=self.name)
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._read, work)

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._reader())
        except (sqlite3.Error, sqlite3.Warning, OSError) as exc:
            raise translate_sqlite_error(exc, self.path) from exc

    async def _run_write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise StorageUnavailable("the SQLite backend is not open", backend=self.name)
        return await self._writer.submit(work)

    def _create_schema(self, connection: sqlite3.Connection) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                connection.execute(statement)

    def _record(
        self, connection: sqlite3.Connection, namespace: str, changes: Sequence[tuple[str, str]]
    ) -> None:
        """Log ``changes`` (key, kind) for subscribers, and tidy a few old rows: once per write,
        not once per key."""
        now = self._clock()
        connection.executemany(
            "INSERT INTO changes (namespace, key, kind, at) VALUES (?, ?, ?, ?)",
            [(namespace, key, kind, now) for key, kind in changes],
        )
        # Bounded housekeeping on every write, a little more than it logs: a few expired items
        # and old change rows.
        limit = max(RECLAIM_PER_WRITE, 2 * len(changes))
        connection.execute(
            "DELETE FROM kv WHERE (namespace, key) IN (SELECT namespace, key FROM kv"
            " WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)",
            (now, limit),
        )
        # The oldest rows come first in seq order, so this looks at a few rows, never the table.
        connection.execute(
            "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes ORDER BY seq LIMIT ?)"
            " AND at < ?",
            (limit, now - CHANGE_RETENTION),
        )

    # -- the contract ---------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._run(lambda connection: connection.execute("SELECT 1").fetchone())

    async def get(self, namespace: str, key: str) -> str | None:
        return await self._run(functools.partial(self._get, namespace, key))

    def _get(self, namespace: str, key: str, connection: sqlite3.Connection) -> str | None:
        row = connection.execute(
            f"SELECT value FROM kv WHERE namespace = ? AND key = ? AND {_LIVE}",  # noqa: S608
            (namespace, key, self._clock()),
        ).fetchone()
        return None if row is None else str(row[0])

    async def set(
        self,
        namespace: str,
        key: str,
        raw: str,
        ttl: float | None,
        condition: Condition = Condition.ALWAYS,
        expected: str | None = None,
    ) -> bool:
        write = functools.partial(self._set, namespace, key, raw, ttl, condition, expected)
        return await self._run_write(write)

    def _set(
        self,
        namespace: str,
        key: str,
        raw: str,
        ttl: float | None,
        condition: Condition,
        expected: str | None,
        connection: sqlite3.Connection,
    ) -> bool:
        if condition is not Condition.ALWAYS:
            current = self._get(namespace, key, connection)
            if not condition_holds(condition, current, expected):
                return False
        self._put(namespace, key, raw, ttl, connection)
        self._record(connection, namespace, [(key, ChangeKind.SET)])
        return True

    def _put(
        self, namespace: str, key: str, raw: str, ttl: float | None, connection: sqlite3.Connection
    ) -> None:
        connection.execute(
            _PUT, (namespace, key, raw, None if ttl is None else self._clock() + ttl)
        )

    async def remove(self, namespace: str, key: str) -> bool:
        return await self._run_write(functools.partial(self._remove, namespace, key))

    def _remove(self, namespace: str, key: str, connection: sqlite3.Connection) -> bool:
        cursor = connection.execute(
            f"DELETE FROM kv WHERE namespace = ? AND key = ? AND {_LIVE}",  # noqa: S608
            (namespace, key, self._clock()),
        )
        if cursor.rowcount == 0:
            return False
        self._record(connection, namespace, [(key, ChangeKind.REMOVED)])
        return True

    async def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        return await self._run(functools.partial(self._get_many, namespace, list(keys)))

    def _get_many(
        self, namespace: str, keys: list[str], connection: sqlite3.Connection
    ) -> dict[str, str]:
        found: dict[str, str] = {}
        now = self._clock()
        for start in range(0, len(keys), 500):  # SQLite caps the parameters of one statement
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = connection.execute(
                f"SELECT key, value FROM kv WHERE namespace = ? AND key IN ({marks})"  # noqa: S608
                f" AND {_LIVE}",
                (namespace, *chunk, now),
            ).fetchall()
            found.update((str(key), str(value)) for key, value in rows)
        return found

    async def ttls(self, namespace: str, keys: Sequence[str]) -> dict[str, float | None]:
        return await self._run(functools.partial(self._ttls, namespace, list(keys)))

    def _ttls(
        self, namespace: str, keys: list[str], connection: sqlite3.Connection
    ) -> dict[str, float | None]:
        found: dict[str, float | None] = {}
        now = self._clock()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = connection.execute(
                f"SELECT key, expires_at FROM kv WHERE namespace = ? AND key IN ({marks})"  # noqa: S608
                f" AND {_LIVE}",
                (namespace, *chunk, now),
            ).fetchall()
            found.update((str(key), None if at is None else at - now) for key, at in rows)
        return found

    async def transact(self, namespace: str, operations: Sequence[Operation]) -> bool:
        return await self._run_write(functools.partial(self._transact, namespace, operations))

    def _transact(
        self, namespace: str, operations: Sequence[Operation], connection: sqlite3.Connection
    ) -> bool:
        # Inside the writer's transaction: no other process can write between check and apply.
        # One statement reads every key and one writes them: a booking touches a dozen keys,
        # and each statement is a trip through the sqlite3 module (and the GIL) of its own.
        currents = self._get_many(
            namespace, [operation.key for operation in operations], connection
        )
        if not all(expectation_holds(op, currents.get(op.key)) for op in operations):
            return False
        texts = {  # every expectation holds: now the merges
            op.key: merged(currents.get(op.key), op.merge, backend=self.name)
            for op in operations
            if op.merge is not None
        }
        now = self._clock()
        changes: list[tuple[str, str]] = []
        removed: list[tuple[str, str]] = []
        written: list[tuple[str, str, str, float | None]] = []
        for operation in operations:
            kind = announcement(operation, currents.get(operation.key))
            if operation.write is DELETE:
                removed.append((namespace, operation.key))
            else:
                text = (
                    operation.write
                    if isinstance(operation.write, str)
                    else texts.get(operation.key)
                )
                if text is not None:
                    expires = None if operation.ttl is None else now + operation.ttl
                    written.append((namespace, operation.key, text, expires))
            if kind is not None:
                changes.append((operation.key, kind))
        if removed:
            connection.executemany("DELETE FROM kv WHERE namespace = ? AND key = ?", removed)
        if written:
            connection.executemany(_PUT, written)
        if changes:
            self._record(connection, namespace, changes)
        return True

    async def touch(self, namespace: str, key: str, ttl: float) -> bool:
        return await self._run_write(functools.partial(self._touch, namespace, key, ttl))

    def _touch(self, namespace: str, key: str, ttl: float, connection: sqlite3.Connection) -> bool:
        now = self._clock()
        cursor = connection.execute(
            f"UPDATE kv SET expires_at = ? WHERE namespace = ? AND key = ? AND {_LIVE}",  # noqa: S608
            (now + ttl, namespace, key, now),
        )
        return cursor.rowcount > 0

    async def get_and_touch(self, namespace: str, key: str, ttl: float) -> str | None:
        return await self._run_write(functools.partial(self._get_and_touch, namespace, key, ttl))

    def _get_and_touch(
        self, namespace: str, key: str, ttl: float, connection: sqlite3.Connection
    ) -> str | None:
        now = self._clock()
        row = connection.execute(
            f"UPDATE kv SET expires_at = ? WHERE namespace = ? AND key = ? AND {_LIVE}"  # noqa: S608
            " RETURNING value",
            (now + ttl, namespace, key, now),
        ).fetchone()
        return None if row is None else str(row[0])

    async def scan(self, namespace: str, batch_size: int) -> AsyncIterator[list[tuple[str, str]]]:
        # Keyset pagination: each batch is one short read, so writers are never held up.
        after: str | None = None
        while True:
            batch = await self._run(functools.partial(self._page, namespace, after, batch_size))
            if batch:
                yield batch
            if len(batch) < batch_size:
                return
            after = batch[-1][0]

    def _page(
        self, namespace: str, after: str | None, limit: int, connection: sqlite3.Connection
    ) -> list[tuple[str, str]]:
        beyond = "key >= ''" if after is None else "key > ?"
        rows = connection.execute(
            f"SELECT key, value FROM kv WHERE namespace = ? AND {beyond} AND {_LIVE}"  # noqa: S608
            " ORDER BY key LIMIT ?",
            (namespace, *(() if after is None else (after,)), self._clock(), limit),
        ).fetchall()
        return [(str(key), str(value)) for key, value in rows]

    # -- change events across processes ---------------------------------------------------------

    async def start_events(self) -> None:
        # The poller is made before the first await: subscribers that start together share it
        # (each used to make its own, and every change reached every subscriber once per poller).
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(), name="parlour-sqlite-changes")
        await self._polling.wait()

    async def _poll(self) -> None:
        last: int | None = None  # the newest change when polling began: later ones are news
        while True:
            try:
                if last is None:
                    last = await self._run(self._newest_change)
                rows = await self._run(functools.partial(self._changes_after, last))
            except StorageError:
                if self.changes.flowing:
                    self.changes.lost()  # no copy may trust the feed until a poll succeeds
                self._polling.set()
                await asyncio.sleep(POLL_INTERVAL * 10)
                continue
            if not self.changes.flowing:
                self.changes.restored()
            self._polling.set()
            if rows and rows[0][0] != last + 1:
                self.changes.resync_all()
            for seq, namespace, key, kind in rows:
                self.changes.publish(ChangeEvent(namespace, key, ChangeKind(kind)))
                last = seq
            if len(rows) < 1000:
                await asyncio.sleep(POLL_INTERVAL)

    @staticmethod
    def _newest_change(connection: sqlite3.Connection) -> int:
        return int(
            connection.execute(
                "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'changes'"
            ).fetchone()[0]
        )

    @staticmethod
    def _changes_after(
        last: int, connection: sqlite3.Connection
    ) -> list[tuple[int, str, str, str]]:
        return connection.execute(
            "SELECT seq, namespace, key, kind FROM changes WHERE seq > ? ORDER BY seq LIMIT 1000",
            (last,),
        ).fetchall()
