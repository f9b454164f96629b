"""The Redis backend: the storage contract (:class:`parlour.storage.base.Backend`) on one server,
Sentinel or Cluster, composed of the modules of this package.

Layout: an item lives at ``{prefix}:{space}:v:{key}``; each namespace keeps an index, a sorted
set ``{prefix}:{space}:i`` of its keys scored by expiry, so listing costs O(namespace) and
never touches the rest of the keyspace. The space (:mod:`~parlour.storage.redis.layout`) is the
namespace's validated word inside a Redis hash tag, or a salon's slug in one and the word after
it, so no key can reach another namespace or salon, and every multi-key step of one namespace
stays in one Cluster slot. Each write, its index entry and its change event are one Lua script
(:mod:`~parlour.storage.redis.scripts`). ``set_if_absent`` is never sent twice.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from parlour.config import Settings, mask_url_password
from parlour.errors import ConfigurationError, StorageError
from parlour.storage.base import Backend, Condition, Operation, Sample, split_namespace
from parlour.storage.events import ChangeKind
from parlour.storage.redis import metrics
from parlour.storage.redis.durability import MetaKeys, durable_namespaces
from parlour.storage.redis.events import PubSubListener, encode_event
from parlour.storage.redis.gate import Gate
from parlour.storage.redis.layout import space
from parlour.storage.redis.scripts import (
    WRITE_MODES,
    milliseconds,
    refused,
    run_script,
    transact_step,
)
from parlour.storage.redis.topology import Client, parse


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
        them (:mod:`parlour.storage.redis.durability`)."""
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
        self.gate = Gate(self.topology, timeout=timeout, pool_size=pool_size)
        self.deadline = self.gate.deadline
        self.call = self.gate.call
        self.translated = self.gate.translated
        self.meta = MetaKeys(self.gate, prefix)
        self._password = password
        self._channel = f"{prefix}:changes"
        self.listener = PubSubListener(self.gate, self.changes, self._channel)

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
        return self.gate.client

    @property
    def reconnects(self) -> int:
        """Times the change-event connection came back."""
        return self.listener.reconnects

    async def open(self) -> None:
        await self.gate.open(self._password)

    async def close(self) -> None:
        await self.listener.close()
        await self.gate.close()

    async def start_events(self) -> None:
        await self.listener.start()

    # -- keys and scripts -----------------------------------------------------------------------

    def item_key(self, namespace: str, key: str) -> str:
        return f"{self.prefix}:{space(namespace)}:v:{key}"

    def index_key(self, namespace: str) -> str:
        return f"{self.prefix}:{space(namespace)}:i"

    async def eval_script(
        self,
        name: str,
        keys: list[str],
        args: list[str | int],
        *,
        idempotent: bool,
        durable: str | None = None,
    ) -> Any:
        """Run ``lua/<name>.lua`` through :meth:`call` (:func:`.scripts.run_script`); a write to
        ``durable`` waits for a replica when that is one of :attr:`replica_ack_namespaces`."""
        acknowledged = (
            durable is not None and split_namespace(durable)[0] in self.replica_ack_namespaces
        )
        return await run_script(
            self.gate, name, keys, args, idempotent=idempotent, acknowledged=acknowledged
        )

    # -- the contract ---------------------------------------------------------------------------

    async def ping(self) -> None:
        await self.call(self.client.ping, idempotent=True)

    async def get(self, namespace: str, key: str) -> str | None:
        get = functools.partial(self.client.get, self.item_key(namespace, key))
        return cast(str | None, await self.call(get, idempotent=True))

    async def set(
        self,
        namespace: str,
        key: str,
        raw: str,
        ttl: float | None,
        condition: Condition = Condition.ALWAYS,
        expected: str | None = None,
    ) -> bool:
        args: list[str | int] = [
            raw,
            0 if ttl is None else milliseconds(ttl),
            WRITE_MODES[condition],
            key,
            self._channel,
            encode_event(namespace, key, ChangeKind.SET),
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
            encode_event(namespace, key, ChangeKind.REMOVED),
        ]
        keys = self._keys(namespace, key)
        return bool(
            await self.eval_script("remove", keys, args, idempotent=True, durable=namespace)
        )

    # A touch is one native command and leaves the index alone: index scores are a lower bound
    # of expiry that reclaim.lua checks before dropping anything (a fifth faster than a script).

    async def touch(self, namespace: str, key: str, ttl: float) -> bool:
        pexpire = functools.partial(
            self.client.pexpire, self.item_key(namespace, key), milliseconds(ttl)
        )
        return bool(await self.call(pexpire, idempotent=True))

    async def get_and_touch(self, namespace: str, key: str, ttl: float) -> str | None:
        getex = functools.partial(
            self.client.getex, self.item_key(namespace, key), px=milliseconds(ttl)
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
            step, kind = transact_step(operation)
            args += [*step, encode_event(namespace, operation.key, kind)]
        # Not idempotent: repeated after a lost reply, its own writes would fail its expectations.
        try:
            return bool(
                await self.eval_script("transact", keys, args, idempotent=False, durable=namespace)
            )
        except StorageError as exc:
            refusal = refused(exc)
            if refusal is None:
                raise
            raise refusal from exc

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

    async def holds_items(self, namespace: str) -> bool:
        count = functools.partial(self.client.zcard, self.index_key(namespace))
        return bool(await self.call(count, idempotent=True))

    # -- readiness (storage/durability.py), through redis/durability.py -------------------------

    def meta_key(self, namespace: str, name: str) -> str:
        return self.meta.key(namespace, name)

    async def probe_write(self, namespaces: Sequence[str]) -> None:
        await self.meta.probe_write(namespaces)

    async def get_meta(self, namespace: str, name: str) -> str | None:
        return await self.meta.get(namespace, name)

    async def set_meta(self, namespace: str, name: str, value: str, *, if_absent: bool) -> bool:
        return await self.meta.set(namespace, name, value, if_absent=if_absent)

    async def memory_policies(self) -> frozenset[str]:
        return await self.meta.memory_policies()

    # -- for operators, through redis/metrics.py ----------------------------------------------

    def pool_counts(self) -> list[tuple[int, str]]:
        """(connections, "idle" | "in_use") for this process's pool."""
        try:
            client = self.client
        except StorageError:  # not open
            return []
        return metrics.pool_counts(client)

    async def info(self) -> dict[str, Any]:
        """INFO memory and clients, merged (summed over the masters of a Cluster)."""
        return await metrics.server_info(self.gate)

    async def metrics(self) -> list[Sample]:
        counts = self.pool_counts()
        reconnects = self.reconnects
        info: dict[str, Any] | StorageError
        try:
            info = await self.info()
        except StorageError as exc:
            info = exc
        return metrics.samples(counts, reconnects, info)
