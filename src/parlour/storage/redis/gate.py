"""The connection gate: every command to Redis goes through :meth:`Gate.call`, which owns the
one client and the one place where redis-py's errors become Parlour's.

Failure is bounded: no command waits longer than :attr:`Gate.deadline` (two socket timeouts)
once Redis stops answering, redis-py's own retries are off, and only operations that are safe to
repeat are retried, once, after a dropped connection. While Redis answers, a request that finds
every pooled connection busy waits its turn: a queue that moves is load, not an outage (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar, cast

import redis.exceptions as rx
from redis.asyncio import ConnectionPool, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from parlour.errors import StorageError, StorageUnavailable
from parlour.storage.redis.topology import Client, Connection, Topology, connect

T = TypeVar("T")

_LISTENER_CONNECTIONS = 1
"""Connections the pool keeps beyond ``pool_size``: the pub/sub listener's, one per process."""
_CONNECTS_AT_ONCE = 4
"""New connections a process makes to one Redis at a time (:meth:`Gate._connect_ahead`)."""
_UNAVAILABLE = (
    rx.ConnectionError,  # also AuthenticationError, BusyLoadingError, MaxConnectionsError, ...
    rx.TimeoutError,
    rx.ReadOnlyError,  # a replica answered: a failover is under way
    rx.ClusterError,
    rx.ClusterDownError,
    rx.MasterDownError,
    rx.TryAgainError,
    rx.SlotNotCoveredError,
    rx.OutOfMemoryError,
    rx.NoPermissionError,
    rx.MovedError,
)


def translate_redis_error(exc: rx.RedisError | OSError, where: str) -> StorageError:
    """The Parlour error for a redis-py error, with what to do about it."""
    if isinstance(exc, rx.AuthenticationError | rx.NoPermissionError):
        return StorageUnavailable(
            f"Redis at {where} refused our credentials ({exc}); check REDIS_PASSWORD and REDIS_URL",
            backend="redis",
        )
    if isinstance(exc, rx.TimeoutError):
        return StorageUnavailable(f"Redis at {where} did not answer in time", backend="redis")
    if isinstance(exc, rx.ConnectionError | OSError):
        return StorageUnavailable(
            f"Redis at {where} refused or dropped the connection ({exc}); "
            "start Redis or unset REDIS_URL",
            backend="redis",
        )
    if isinstance(exc, _UNAVAILABLE):
        return StorageUnavailable(f"Redis at {where} cannot serve now: {exc}", backend="redis")
    return StorageError(f"Redis at {where} failed: {type(exc).__name__}: {exc}", backend="redis")


def idle_and_in_use(pool: ConnectionPool) -> tuple[int, int]:
    """A pool's (idle, in use) connections, from redis-py's public count."""
    idle = in_use = 0
    for count, attributes in pool.get_connection_count():
        state = next((str(v) for k, v in attributes.items() if k.endswith("state")), "")
        if state == "idle":
            idle += count
        else:
            in_use += count
    return idle, in_use


def _abandon(acquiring: asyncio.Future[Any], slots: asyncio.Semaphore) -> None:
    """Stop waiting for a connection, giving it back if it was granted meanwhile."""
    acquiring.cancel()
    acquiring.add_done_callback(lambda done: None if done.cancelled() else slots.release())


class Gate:
    """One Redis client behind a gate of ``pool_size`` connections, with a deadline."""

    def __init__(self, topology: Topology, *, timeout: float, pool_size: int) -> None:
        self.topology = topology
        self.where = topology.where
        self.timeout = timeout
        self.deadline = 2 * timeout
        self.pool_size = pool_size
        self._connection: Connection | None = None
        self._slots = asyncio.Semaphore(pool_size)
        self._connecting = asyncio.Semaphore(_CONNECTS_AT_ONCE)
        self._pool: ConnectionPool | None = None  # the one pool, where there is one (not Cluster)
        self._in_flight = 0  # commands inside call(), each holding at most one connection
        self._opened = 0  # connections the pool is known to have made (it never drops one)
        self.held_outside = 0
        """Connections checked out around call() (the listener's, while it subscribes)."""
        self._answered_at = 0.0  # time.monotonic() of the last command that had its answer
        self._failed_at = -1.0  # ... and of the last that could not reach Redis
        self._discovering = False  # a Cluster client that has not yet learnt the slot map
        self._discovery = asyncio.Lock()

    @property
    def client(self) -> Client:
        if self._connection is None:
            raise StorageUnavailable("the Redis backend is not open", backend="redis")
        return self._connection.client

    @property
    def pool(self) -> ConnectionPool | None:
        """The one connection pool (one server, Sentinel); ``None`` for a Cluster or closed."""
        return self._pool

    async def open(self, password: str | None) -> None:
        options: dict[str, Any] = {
            # Commands queue on ``_slots`` for pool_size connections; the change-event listener
            # holds one more for as long as it listens, outside that gate. Sized to exactly
            # pool_size, the pool refused ("Too many connections") whichever command came
            # last while the listener was subscribed: 191 of 200 in a burst, with Redis healthy.
            "max_connections": self.pool_size + _LISTENER_CONNECTIONS,
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": Retry(NoBackoff(), 0),  # we decide what may be retried, below
            "decode_responses": True,
        }
        if password is not None:
            options["password"] = password
        # A plain pool behind our own semaphore: callers queue for a connection inside the
        # deadline, and BlockingConnectionPool's per-checkout lock and timer (a fifth of the
        # throughput, measured) are not paid. Every checkout but the listener's goes through
        # call(), so the semaphore is the one gate (a Cluster's per-node pools have no blocking
        # variant at all, so a gate of our own is needed there anyway).
        self._slots = asyncio.Semaphore(self.pool_size)
        self._connecting = asyncio.Semaphore(_CONNECTS_AT_ONCE)
        self._connection = connect(self.topology, **options)
        client = self._connection.client
        self._discovering = isinstance(client, RedisCluster)
        # One pool (standalone, Sentinel): new connections are made a few at a time, ahead of
        # the command (see _connect_ahead). A Cluster's pools are per node; it discovers below.
        pool = None if isinstance(client, RedisCluster) else client.connection_pool
        self._pool = pool if isinstance(pool, ConnectionPool) else None
        self._in_flight = self._opened = 0
        if self._discovering:
            with contextlib.suppress(StorageUnavailable):  # down now: the first command retries
                await self._discover()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.aclose()
            self._connection = None

    @contextlib.contextmanager
    def translated(self) -> Iterator[None]:
        """Turn every redis-py and socket error raised inside into a Parlour error."""
        try:
            yield
        except (rx.RedisError, OSError) as exc:
            raise translate_redis_error(exc, self.where) from exc

    async def call(self, operation: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
        """Run one operation, failing with ``StorageUnavailable`` within about :attr:`deadline`
        of Redis going quiet.

        redis-py bounds each connect and each reply by the socket timeout; what it does not bound
        is queueing for a free connection, which :meth:`_checkout` does. (A timer around every
        call cost a tenth of the throughput, paying twice for what redis-py does.) A connection
        that dropped (Redis restarted, an idle connection reaped) fails its next command; that is
        retried once, and only when repeating it cannot apply it twice.
        """
        await self._checkout()
        self._in_flight += 1
        try:
            # Each command in call(), and the listener, may hold a connection: when together
            # they could hold every one the pool has made, the pool's own count (public, but
            # 12 us, a tenth of a command) says whether one is idle.
            if self._pool is not None and self._in_flight + self.held_outside > self._opened:
                await self._connect_ahead()
            try:
                result = await operation()
            except rx.ConnectionError as exc:
                if not idempotent or isinstance(exc, rx.AuthenticationError):
                    raise
                result = await operation()
        except (rx.RedisError, OSError) as exc:  # inline: a generator context manager cost 8%
            error = translate_redis_error(exc, self.where)
            if isinstance(error, StorageUnavailable):
                self._failed_at = time.monotonic()  # before the release wakes a waiter
            raise error from exc
        finally:
            self._in_flight -= 1
            self._slots.release()
        self._answered_at = time.monotonic()
        return result

    async def _checkout(self) -> None:
        """Take one of the pool's connections, waiting while Redis keeps answering.

        A busy process (a burst of requests on a loaded machine) holds each connection far
        longer than Redis takes to answer, because a task that got its reply waits its turn on
        the event loop. A wait bounded by the clock alone (the rest of the deadline) gave 503s
        while Redis was healthy: 46 of 50 bookings in a burst of 200 on a pool of 10. So a
        caller waits its turn for as long as Redis's latest news is an answer, and gives up as
        soon as the latest news, since it began waiting, is a command that could not reach
        Redis. Every connection it waits for is held by a command that redis-py bounds by the
        socket timeout, so with Redis hung or gone that news comes within the deadline. (No
        limit while it answers: a queue that moves is load, for ``--limit-concurrency`` or more
        instances to bound, not an outage to report.)
        """
        if not self._slots.locked():
            await self._slots.acquire()
            return
        began = time.monotonic()
        # One waiting task, looked at every socket timeout: it keeps its place in the queue.
        acquiring = asyncio.ensure_future(self._slots.acquire())
        try:
            while not self._failing_since(began):
                if (await asyncio.wait({acquiring}, timeout=self.timeout))[0]:
                    if not self._failing_since(began):
                        return
                    break
        except BaseException:  # this request was cancelled while it waited
            _abandon(acquiring, self._slots)
            raise
        _abandon(acquiring, self._slots)
        raise StorageUnavailable(
            f"Redis at {self.where} stopped answering while this request waited for one of "
            f"its {self.pool_size} connections",
            backend="redis",
        )

    async def _connect_ahead(self) -> None:
        """Give the pool one more connection before a command that would have to make one.

        Fifty commands at once on a new pool made fifty connections at once, each with its
        handshake bounded by the socket timeout, and on a loaded machine one of them could miss
        it: a 503 ("did not answer in time") with Redis healthy, and for a command that cannot
        be repeated. Made here, a few at a time, a connection that fails to come up has sent
        nothing; a caller that waited finds one made meanwhile, or the news that Redis is down.
        """
        began = time.monotonic()
        async with self._connecting:
            if self._failing_since(began):
                raise StorageUnavailable(
                    f"Redis at {self.where} stopped answering while this request waited to connect",
                    backend="redis",
                )
            pool = self._pool
            if pool is None:
                return
            idle, in_use = idle_and_in_use(pool)
            self._opened = idle + in_use
            if idle:  # made by a caller ahead of this one
                return
            # A failure is translated (and recorded for the callers behind) by call().
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            # Shielded: a request cancelled here must not keep the connection checked out.
            await asyncio.shield(pool.release(connection))
            self._opened = max(self._opened, idle + in_use + 1)

    def _failing_since(self, moment: float) -> bool:
        """Whether a command failed to reach Redis after ``moment``, and none answered since."""
        return self._failed_at >= moment and self._failed_at > self._answered_at

    async def _discover(self) -> None:
        """Learn a Cluster's slot map once, at open or before the first command.

        redis-py discovers lazily, and a burst of first commands on a new client sent some to the
        wrong node (MOVED), whose handling then dropped connections that other commands were
        using ("Connection closed by server": 20 to 30 of 50 failed, measured). Discovering
        at open, before any command, fixes that.
        """
        cluster = cast(RedisCluster, self.client)
        async with self._discovery:
            if self._discovering:
                try:
                    async with asyncio.timeout(self.deadline):
                        await cluster.initialize()
                        await cluster.ping(target_nodes=RedisCluster.PRIMARIES)
                except TimeoutError:
                    raise StorageUnavailable(
                        f"the Redis Cluster at {self.where} did not answer in time",
                        backend="redis",
                    ) from None
                except (rx.RedisError, OSError) as exc:
                    raise translate_redis_error(exc, self.where) from exc
                self._discovering = False
