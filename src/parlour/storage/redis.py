"""The shared backend: Redis through redis.asyncio and hiredis, on one server, Sentinel or Cluster.

With :mod:`parlour.storage.redis_topology` (which connects), the only module that imports redis.

Layout: an item lives at ``{prefix}:{namespace}:v:{key}``; each namespace keeps an index, a sorted
set ``{prefix}:{namespace}:i`` of its keys scored by expiry, so listing costs O(namespace) and
never touches the rest of the keyspace. The namespace is a validated word inside a Redis hash tag,
so no key can reach another namespace, and every multi-key step of one namespace stays in one
Cluster slot. Each write, its index entry and its change event are one Lua script: one round trip,
atomic. Events go out on ``{prefix}:changes`` (pub/sub ignores the database number, so the prefix
keeps deployments apart); one dedicated connection per process listens, and after it reconnects
every subscriber receives ``RESYNC`` because pub/sub drops what was sent while it was away.

Failure is bounded: no command waits longer than :attr:`RedisBackend.deadline` (two socket
timeouts) once Redis stops answering, redis-py's own retries are off, and only operations that
are safe to repeat are retried, once, after a dropped connection. ``set_if_absent`` is never sent
twice. While Redis answers, a request that finds every pooled connection busy waits its turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from importlib.resources import files
from typing import Any, TypeVar, cast

import redis.exceptions as rx
from redis.asyncio import ConnectionPool, Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from parlour.config import Settings, mask_url_password
from parlour.errors import (
    ConfigurationError,
    CorruptValue,
    InvalidValue,
    StorageError,
    StorageUnavailable,
)
from parlour.storage.base import ABSENT, DELETE, Backend, Condition, Operation, Sample
from parlour.storage.events import ChangeEvent, ChangeKind
from parlour.storage.redis_durability import durable_namespaces, evalsha_acknowledged
from parlour.storage.redis_topology import Client, Connection, connect, parse

T = TypeVar("T")
log = logging.getLogger(__name__)

_RECONNECT_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
_LISTENER_CONNECTIONS = 1
"""Connections the pool keeps beyond ``pool_size``: the pub/sub listener's, one per process."""
_CONNECTS_AT_ONCE = 4
"""New connections a process makes to one Redis at a time (:meth:`RedisBackend._connect_ahead`)."""
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


_UP = "1 when Redis answered the last scrape"
_SHARED = {"write": ("reclaim",), "prune": ("reclaim",), "transact": ("reclaim", "merge")}
"""The shared Lua each script needs in front of it."""


def load_script(name: str) -> str:
    """``lua/<name>.lua``, with the shared pieces it uses (``reclaim.lua``, ``merge.lua``)."""
    lua = files("parlour.storage").joinpath("lua")
    parts = [*_SHARED.get(name, ()), name]
    return "\n".join(lua.joinpath(f"{part}.lua").read_text("utf-8") for part in parts)


def _abandon(acquiring: asyncio.Future[Any], slots: asyncio.Semaphore) -> None:
    """Stop waiting for a connection, giving it back if it was granted meanwhile."""
    acquiring.cancel()
    acquiring.add_done_callback(lambda done: None if done.cancelled() else slots.release())


def _milliseconds(ttl: float) -> int:
    return max(1, math.ceil(ttl * 1000))


class RedisBackend(Backend):
    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        tls: bool = False,
        cluster: bool = False,
        prefix: str = "parlour",
        timeout: float = 0.5,
        pool_size: int = 50,
        replica_ack_namespaces: frozenset[str] = frozenset(),
    ) -> None:
        """``replica_ack_namespaces``: writes there are acknowledged only once a replica has
        them (:mod:`parlour.storage.redis_durability`)."""
        super().__init__()
        self.replica_ack_namespaces = replica_ack_namespaces
        try:
            self.topology = parse(url, tls=tls, cluster=cluster)
        except ValueError as exc:
            raise ConfigurationError(f"REDIS_URL: {exc}") from None
        self.url = self.topology.url
        self.where = self.topology.where
        self.prefix = prefix
        self.timeout = timeout
        self.deadline = 2 * timeout
        self._password = password
        self._pool_size = pool_size
        self._channel = f"{prefix}:changes"
        self._connection: Connection | None = None
        self._scripts: dict[str, str] = {}  # name -> SHA-1
        self._slots = asyncio.Semaphore(pool_size)
        self._connecting = asyncio.Semaphore(_CONNECTS_AT_ONCE)
        self._pool: ConnectionPool | None = None  # the one pool, where there is one (not Cluster)
        self._answered_at = 0.0  # time.monotonic() of the last command that had its answer
        self._failed_at = -1.0  # ... and of the last that could not reach Redis
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._discovering = False  # a Cluster client that has not yet learnt the slot map
        self._discovery = asyncio.Lock()
        self.reconnects = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisBackend:
        assert settings.redis_url, "the caller checked that REDIS_URL is set"
        return cls.from_url(settings.redis_url, settings)

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> RedisBackend:
        """A Redis named by ``url`` (``parlour migrate --from``), with the other Redis settings."""
        password = settings.redis_password
        backend = cls(
            url,
            password=None if password is None else password.get_secret_value(),
            tls=settings.redis_tls_enabled,
            cluster=settings.redis_cluster,
            prefix=settings.redis_prefix,
            timeout=settings.redis_timeout,
            pool_size=settings.redis_pool_size,
        )
        backend.replica_ack_namespaces = durable_namespaces(
            settings.redis_replica_ack, backend.topology.kind
        )
        return backend

    def describe(self) -> str:
        return f"redis ({mask_url_password(self.url)}, prefix {self.prefix!r})"

    @property
    def client(self) -> Client:
        """The shared client, for storage modules that bring their own scripts."""
        if self._connection is None:
            raise StorageUnavailable("the Redis backend is not open", backend=self.name)
        return self._connection.client

    async def open(self) -> None:
        options: dict[str, Any] = {
            # Commands queue on ``_slots`` for pool_size connections; the change-event listener
            # holds one more for as long as it listens, outside that gate. Sized to exactly
            # pool_size, the pool refused ("Too many connections") whichever command came
            # last while the listener was subscribed: 191 of 200 in a burst, with Redis healthy.
            "max_connections": self._pool_size + _LISTENER_CONNECTIONS,
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": Retry(NoBackoff(), 0),  # we decide what may be retried, below
            "decode_responses": True,
        }
        if self._password is not None:
            options["password"] = self._password
        # A plain pool behind our own semaphore: callers queue for a connection inside the
        # deadline, and BlockingConnectionPool's per-checkout lock and timer (a fifth of the
        # throughput, measured) are not paid. Every checkout but the listener's goes through
        # call(), so the semaphore is the one gate (a Cluster's per-node pools have no blocking
        # variant at all, so a gate of our own is needed there anyway).
        self._slots = asyncio.Semaphore(self._pool_size)
        self._connecting = asyncio.Semaphore(_CONNECTS_AT_ONCE)
        self._connection = connect(self.topology, **options)
        self._discovering = isinstance(self._connection.client, RedisCluster)
        # One pool (standalone, Sentinel): new connections are made a few at a time, ahead of
        # the command (see _connect_ahead). A Cluster's pools are per node; it discovers below.
        client = self._connection.client
        pool = None if isinstance(client, RedisCluster) else client.connection_pool
        # Its idle connections are read on each call (the pool may replace the list).
        self._pool = pool if hasattr(pool, "_available_connections") else None
        if self._discovering:
            with contextlib.suppress(StorageUnavailable):  # down now: the first command retries
                await self._discover()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._connection is not None:
            await self._connection.aclose()
            self._connection = None

    # -- keys and calls -------------------------------------------------------------------------

    def item_key(self, namespace: str, key: str) -> str:
        return f"{self.prefix}:{{{namespace}}}:v:{key}"

    def index_key(self, namespace: str) -> str:
        return f"{self.prefix}:{{{namespace}}}:i"

    def _event(self, namespace: str, key: str, kind: ChangeKind) -> str:
        return json.dumps([namespace, key, kind.value], ensure_ascii=False)

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
        try:
            if self._pool is not None and not self._pool._available_connections:
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
            f"its {self._pool_size} connections",
            backend=self.name,
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
                    backend=self.name,
                )
            pool = self._pool
            if pool is None or pool._available_connections:  # made by a caller ahead of this one
                return
            # A failure is translated (and recorded for the callers behind) by call().
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            # Shielded: a request cancelled here must not keep the connection checked out.
            await asyncio.shield(pool.release(connection))

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
                        backend=self.name,
                    ) from None
                except (rx.RedisError, OSError) as exc:
                    raise translate_redis_error(exc, self.where) from exc
                self._discovering = False

    # -- the contract ---------------------------------------------------------------------------

    async def ping(self) -> None:
        await self.call(self.client.ping, idempotent=True)

    async def get(self, namespace: str, key: str) -> str | None:
        get = functools.partial(self.client.get, self.item_key(namespace, key))
        return cast(str | None, await self.call(get, idempotent=True))

    async def eval_script(
        self,
        name: str,
        keys: list[str],
        args: list[str | int],
        *,
        idempotent: bool,
        durable: str | None = None,
    ) -> Any:
        """Run ``lua/<name>.lua`` by SHA through :meth:`call`, loading it when Redis lacks it.

        A NOSCRIPT reply means nothing ran, so sending the script again applies it once.
        """
        sha = self._scripts.get(name)
        if sha is None:
            sha = self._scripts[name] = hashlib.sha1(load_script(name).encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1
        evalsha: Callable[[], Awaitable[Any]]
        evalsha = functools.partial(self.client.evalsha, sha, len(keys), *keys, *args)
        if durable in self.replica_ack_namespaces and isinstance(self.client, Redis):
            wait_ms = max(1, round(self.timeout * 500))  # well inside the socket timeout
            evalsha = functools.partial(
                evalsha_acknowledged, self.client, sha, keys, args, wait_ms, self.where
            )
        try:
            return await self.call(evalsha, idempotent=idempotent)
        except StorageError as exc:
            if not isinstance(exc.__cause__, rx.NoScriptError):
                raise
        load = functools.partial(self.client.script_load, load_script(name))
        await self.call(load, idempotent=True)
        return await self.call(evalsha, idempotent=idempotent)

    async def set(
        self,
        namespace: str,
        key: str,
        raw: str,
        ttl: float | None,
        condition: Condition = Condition.ALWAYS,
        expected: str | None = None,
    ) -> bool:
        mode = {
            Condition.ALWAYS: "",
            Condition.IF_ABSENT: "NX",
            Condition.IF_PRESENT: "XX",
            Condition.IF_VALUE: "CAS",
        }
        args: list[str | int] = [
            raw,
            0 if ttl is None else _milliseconds(ttl),
            mode[condition],
            key,
            self._channel,
            self._event(namespace, key, ChangeKind.SET),
            "" if expected is None else expected,
            self.item_key(namespace, ""),
        ]
        # SET NX repeated after a lost reply would report "taken" to the caller who took it, and
        # a compare-and-set repeated would fail against its own write and be applied again.
        idempotent = condition not in (Condition.IF_ABSENT, Condition.IF_VALUE)
        return bool(
            await self.eval_script(
                "write", self._keys(namespace, key), args, idempotent=idempotent, durable=namespace
            )
        )

    async def remove(self, namespace: str, key: str) -> bool:
        args: list[str | int] = [
            key,
            self._channel,
            self._event(namespace, key, ChangeKind.REMOVED),
        ]
        keys = self._keys(namespace, key)
        return bool(
            await self.eval_script("remove", keys, args, idempotent=True, durable=namespace)
        )

    # A touch is one native command and leaves the index alone: index scores are a lower bound
    # of expiry that reclaim.lua checks before dropping anything (a fifth faster than a script).

    async def touch(self, namespace: str, key: str, ttl: float) -> bool:
        pexpire = functools.partial(
            self.client.pexpire, self.item_key(namespace, key), _milliseconds(ttl)
        )
        return bool(await self.call(pexpire, idempotent=True))

    async def get_and_touch(self, namespace: str, key: str, ttl: float) -> str | None:
        getex = functools.partial(
            self.client.getex, self.item_key(namespace, key), px=_milliseconds(ttl)
        )
        return cast(str | None, await self.call(getex, idempotent=True))

    async def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(keys), 1000):
            chunk = list(keys[start : start + 1000])
            items = [self.item_key(namespace, key) for key in chunk]
            values = cast(
                list[str | None],
                await self.call(functools.partial(self.client.mget, items), idempotent=True),
            )
            found.update((k, v) for k, v in zip(chunk, values, strict=True) if v is not None)
        return found

    async def ttls(self, namespace: str, keys: Sequence[str]) -> dict[str, float | None]:
        async def pttls() -> list[int]:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.pttl(self.item_key(namespace, key))
            return cast(list[int], await pipe.execute())

        found: dict[str, float | None] = {}
        for key, ms in zip(keys, await self.call(pttls, idempotent=True), strict=True):
            if ms >= 0:
                found[key] = ms / 1000
            elif ms == -1:
                found[key] = None  # lives, without expiry; -2 means it is gone
        return found

    async def transact(self, namespace: str, operations: Sequence[Operation]) -> bool:
        keys = [self.index_key(namespace)]
        args: list[str | int] = [self._channel]
        for operation in operations:
            keys.append(self.item_key(namespace, operation.key))
            if operation.expect is None:
                expectation, expected = "", ""
            elif operation.expect is ABSENT:
                expectation, expected = "absent", ""
            else:
                expectation, expected = "equal", str(operation.expect)
            if operation.merge is not None:
                fields = [[field, value] for field, value in operation.merge.items()]
                text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
                write, kind = "merge", ChangeKind.SET
            elif operation.write is None:
                write, text, kind = "", "", ChangeKind.SET
            elif operation.write is DELETE:
                write, text, kind = "delete", "", ChangeKind.REMOVED
            elif operation.announce is ChangeKind.REMOVED:
                write, text, kind = "removal", str(operation.write), ChangeKind.REMOVED
            else:
                write, text, kind = "set", str(operation.write), ChangeKind.SET
            ttl = 0 if operation.ttl is None else _milliseconds(operation.ttl)
            event = self._event(namespace, operation.key, kind)
            args += [operation.key, expectation, expected, write, text, ttl, event]
        # Not idempotent: repeated after a lost reply, its own writes would fail its expectations.
        try:
            return bool(
                await self.eval_script("transact", keys, args, idempotent=False, durable=namespace)
            )
        except StorageError as exc:
            reply = str(exc.__cause__) if isinstance(exc.__cause__, rx.ResponseError) else ""
            code, _, message = reply.partition(" ")
            refusal = {"PARLOUR_CORRUPT": CorruptValue, "PARLOUR_TOOBIG": InvalidValue}.get(code)
            if refusal is None:
                raise
            raise refusal(message, backend=self.name) from exc

    def _keys(self, namespace: str, key: str) -> list[str]:
        return [self.item_key(namespace, key), self.index_key(namespace)]

    async def scan(self, namespace: str, batch_size: int) -> AsyncIterator[list[tuple[str, str]]]:
        index = self.index_key(namespace)
        prefix = self.item_key(namespace, "")
        while await self.eval_script("prune", [index], [prefix, 1000], idempotent=True) == 1000:
            pass  # each call settles a bounded batch, so no one call holds Redis for long
        seen: set[str] = set()  # ZSCAN may return a member twice while the set is rehashed
        cursor = 0
        while True:
            zscan = functools.partial(self.client.zscan, index, cursor, count=batch_size)
            cursor, scored = cast(
                tuple[int, list[tuple[str, float]]], await self.call(zscan, idempotent=True)
            )
            keys = [key for key, _ in scored if key not in seen]
            seen.update(keys)
            if keys:
                items = [self.item_key(namespace, k) for k in keys]
                values = cast(
                    list[str | None],
                    await self.call(functools.partial(self.client.mget, items), idempotent=True),
                )
                batch = [(k, v) for k, v in zip(keys, values, strict=True) if v is not None]
                if batch:
                    yield batch
            if cursor == 0:
                return

    # -- readiness (storage/durability.py) -----------------------------------------------------

    def meta_key(self, namespace: str, name: str) -> str:
        """A key of the namespace's own (in its hash slot) that is not an item: never listed,
        exported or counted as one."""
        return f"{self.prefix}:{{{namespace}}}:{name}"

    async def probe_write(self, namespaces: Sequence[str]) -> None:
        """Write a short-lived key in each namespace's slot (each master of a Cluster that holds
        one): raises ``StorageUnavailable`` when Redis refuses writes (out of memory under
        ``noeviction``, a read-only replica), which a ``PING`` does not show."""

        async def probe(namespace: str) -> None:
            key = self.meta_key(namespace, "probe")
            write = functools.partial(self.client.set, key, "1", px=60_000)
            await self.call(write, idempotent=True)

        await asyncio.gather(*(probe(namespace) for namespace in namespaces))

    async def get_meta(self, namespace: str, name: str) -> str | None:
        read = functools.partial(self.client.get, self.meta_key(namespace, name))
        return cast(str | None, await self.call(read, idempotent=True))

    async def set_meta(self, namespace: str, name: str, value: str, *, if_absent: bool) -> bool:
        """Set a meta key (no expiry); with ``if_absent``, only if there is none."""
        write = functools.partial(
            self.client.set, self.meta_key(namespace, name), value, nx=if_absent
        )
        return bool(await self.call(write, idempotent=not if_absent))

    async def holds_items(self, namespace: str) -> bool:
        count = functools.partial(self.client.zcard, self.index_key(namespace))
        return bool(await self.call(count, idempotent=True))

    async def memory_policies(self) -> frozenset[str]:
        """``maxmemory-policy`` of the server (of every master of a Cluster), from ``INFO``,
        which managed Redis services answer even where they disable ``CONFIG``."""
        client = self.client
        if isinstance(client, RedisCluster):
            each = functools.partial(client.info, "memory", target_nodes=RedisCluster.PRIMARIES)
            per_node = await self.call(each, idempotent=True)
            return frozenset(str(i.get("maxmemory_policy", "")) for i in per_node.values())
        info = await self.call(functools.partial(client.info, "memory"), idempotent=True)
        return frozenset({str(info.get("maxmemory_policy", ""))})

    # -- for operators ------------------------------------------------------------------------

    def pool_counts(self) -> list[tuple[int, str]]:
        """(connections, "idle" | "in_use") for this process's pool."""
        if self._connection is None:
            return []
        client = self._connection.client
        if isinstance(client, RedisCluster):
            nodes = client.get_nodes()
            idle = sum(len(node._free) for node in nodes)  # redis-py keeps no public count
            opened = sum(len(node._connections) for node in nodes)
            return [(idle, "idle"), (opened - idle, "in_use")]
        counts = []
        for count, attributes in client.connection_pool.get_connection_count():
            state = next((str(v) for k, v in attributes.items() if k.endswith("state")), "")
            counts.append((count, "idle" if state == "idle" else "in_use"))
        return counts

    async def info(self) -> dict[str, Any]:
        """INFO memory and clients, merged (summed over the masters of a Cluster)."""
        client = self.client
        if isinstance(client, RedisCluster):
            each = functools.partial(client.info, target_nodes=RedisCluster.PRIMARIES)
            nodes: dict[str, dict[str, Any]] = {}
            for section in ("memory", "clients"):
                per_node = await self.call(functools.partial(each, section), idempotent=True)
                for node, info in per_node.items():
                    nodes.setdefault(node, {}).update(info)
            totals: dict[str, Any] = {}
            for info in nodes.values():
                for name in ("used_memory", "used_memory_peak", "connected_clients"):
                    totals[name] = totals.get(name, 0) + info.get(name, 0)
            return totals
        memory = await self.call(functools.partial(client.info, "memory"), idempotent=True)
        clients = await self.call(functools.partial(client.info, "clients"), idempotent=True)
        return {**memory, **clients}

    async def metrics(self) -> list[Sample]:
        samples = [
            Sample(
                "parlour_redis_pool_connections",
                "This process's Redis connections",
                count,
                (("state", state),),
            )
            for count, state in self.pool_counts()
        ]
        samples.append(
            Sample(
                "parlour_pubsub_reconnects",
                "Times the change-event connection came back",
                self.reconnects,
                counter=True,
            )
        )
        try:
            info = await self.info()
        except StorageError:
            return [*samples, Sample("parlour_redis_up", _UP, 0)]
        return [
            *samples,
            Sample("parlour_redis_up", _UP, 1),
            Sample("parlour_redis_used_memory_bytes", "Redis INFO used_memory",
                   info.get("used_memory", 0)),
            Sample("parlour_redis_used_memory_peak_bytes", "Redis INFO used_memory_peak",
                   info.get("used_memory_peak", 0)),
            Sample("parlour_redis_connected_clients", "Redis INFO connected_clients",
                   info.get("connected_clients", 0)),
        ]  # fmt: skip

    # -- change events --------------------------------------------------------------------------

    async def start_events(self) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="parlour-redis-changes")
        try:
            async with asyncio.timeout(self.deadline):
                await self._listening.wait()
        except TimeoutError:
            raise StorageUnavailable(
                f"Redis at {self.where} is not reachable, so change events cannot be delivered",
                backend=self.name,
            ) from None

    async def _listen(self) -> None:
        attempt = 0
        while True:
            pubsub = None
            try:
                await self.ping()  # on a Cluster, also learns which node serves the channel
                pubsub = self.client.pubsub()
                with self.translated():
                    async with asyncio.timeout(self.deadline):
                        await pubsub.subscribe(self._channel)
                        while (await pubsub.get_message(timeout=self.deadline)) is None:
                            pass  # the first message is the server confirming the subscription
                    if attempt:
                        self.reconnects += 1
                        log.warning("change events from %s are flowing again", self.where)
                        self.changes.restored()
                    attempt = 0
                    self._listening.set()
                    while True:
                        message = await pubsub.get_message(timeout=None)
                        if message is not None and message["type"] == "message":
                            self._dispatch(message["data"])
            except (StorageError, TimeoutError) as exc:
                if self._listening.is_set() or attempt == 0:
                    log.warning("lost change events from %s: %s", self.where, exc)
                if self._listening.is_set():
                    self.changes.lost()
                self._listening.clear()
            finally:
                # A fresh PubSub each time: redis-py would otherwise resubscribe silently, and
                # subscribers would never hear that events were lost in between.
                if pubsub is not None:
                    with contextlib.suppress(rx.RedisError, OSError):
                        await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            await asyncio.sleep(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)])
            attempt += 1

    def _dispatch(self, data: str) -> None:
        try:
            namespace, key, kind = json.loads(data)
            event = ChangeEvent(namespace, key, ChangeKind(kind))
        except (ValueError, TypeError):
            log.warning("ignored a malformed change event on %s", self._channel)
            return
        self.changes.publish(event)
