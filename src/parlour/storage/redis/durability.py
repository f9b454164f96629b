"""Acknowledge a durable write only once a replica has it: ``WAIT 1`` after the write script.

Replication is asynchronous, so a master can acknowledge a write and die before sending it on;
the promoted replica then lacks it, and a lost unit claim is a slot that can be sold twice.
``WAIT numreplicas timeout`` returns once that many replicas have every write made so far on
*this connection*, so the script and the ``WAIT`` go in one pipeline: one connection, one round
trip. Fewer acknowledgements than asked within the timeout is ``StorageUnavailable``: the write
is on the master but may not survive a failover, so it is not reported as done (a client that
retries with its idempotency key gets the one booking, whichever way it went).

``WAIT`` is not a consensus: a replica that has the write can still lose the election to one that
does not (Redis says so). What it removes is the common loss, the master that dies with writes
no replica received. Offered on one server and on Sentinel; not on Cluster, where redis-py's
cluster pipeline cannot send a keyless ``WAIT`` on the connection that wrote.

Also here: the meta keys and questions through which :mod:`parlour.storage.durability` judges
whether Redis still holds what it was given (an epoch marker, a write probe, the eviction policy).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis, RedisCluster

from parlour.config import NAMESPACES
from parlour.errors import ConfigurationError, StorageUnavailable
from parlour.storage.redis.gate import Gate
from parlour.storage.redis.layout import space

REPLICAS = 1
_EPHEMERAL = ("sessions", "ratelimit")  # lost in a failover, they cost a login or a window


def durable_namespaces(choice: str, topology: str) -> frozenset[str]:
    """Where writes wait for a replica under ``PARLOUR_REDIS_REPLICA_ACK=choice``: auto is on
    with Sentinel (which is there to fail over to a replica) and off otherwise."""
    if choice == "off" or (choice == "auto" and topology != "sentinel"):
        return frozenset()
    if topology == "cluster":
        raise ConfigurationError(
            "PARLOUR_REDIS_REPLICA_ACK=on is not offered on Redis Cluster; use Sentinel for "
            "durable data on Redis, or PostgreSQL (PARLOUR_DATA_BACKEND=postgres)"
        )
    return frozenset(name for name in NAMESPACES if name not in _EPHEMERAL)


async def evalsha_acknowledged(
    client: Redis, sha: str, keys: list[str], args: list[str | int], timeout_ms: int, where: str
) -> Any:
    """EVALSHA, then WAIT for a replica, on one connection; the script's reply."""
    pipe = client.pipeline(transaction=False)
    pipe.evalsha(sha, len(keys), *keys, *args)
    pipe.execute_command("WAIT", REPLICAS, timeout_ms)
    reply, acknowledged = await pipe.execute()
    if int(acknowledged) < REPLICAS:
        raise StorageUnavailable(
            f"Redis at {where} took the write, but no replica confirmed it within "
            f"{timeout_ms} ms, so it could be lost in a failover; check the replicas "
            "(or set PARLOUR_REDIS_REPLICA_ACK=off to accept that risk)",
            backend="redis",
        )
    return reply


class MetaKeys:
    """Keys of a namespace's own (in its hash slot) that are not items: never listed, exported or
    counted as one."""

    def __init__(self, gate: Gate, prefix: str) -> None:
        self._gate = gate
        self._prefix = prefix

    def key(self, namespace: str, name: str) -> str:
        return f"{self._prefix}:{space(namespace)}:{name}"

    async def probe_write(self, namespaces: Sequence[str]) -> None:
        """Write a short-lived key in each namespace's slot (each master of a Cluster that holds
        one): raises ``StorageUnavailable`` when Redis refuses writes (out of memory under
        ``noeviction``, a read-only replica), which a ``PING`` does not show."""
        gate = self._gate

        async def probe(namespace: str) -> None:
            write = functools.partial(gate.client.set, self.key(namespace, "probe"), "1", px=60_000)
            await gate.call(write, idempotent=True)

        await asyncio.gather(*(probe(namespace) for namespace in namespaces))

    async def get(self, namespace: str, name: str) -> str | None:
        read = functools.partial(self._gate.client.get, self.key(namespace, name))
        return cast(str | None, await self._gate.call(read, idempotent=True))

    async def set(self, namespace: str, name: str, value: str, *, if_absent: bool) -> bool:
        """Set a meta key (no expiry); with ``if_absent``, only if there is none."""
        write = functools.partial(
            self._gate.client.set, self.key(namespace, name), value, nx=if_absent
        )
        return bool(await self._gate.call(write, idempotent=not if_absent))

    async def memory_policies(self) -> frozenset[str]:
        """``maxmemory-policy`` of the server (of every master of a Cluster), from ``INFO``,
        which managed Redis services answer even where they disable ``CONFIG``."""
        gate = self._gate
        client = gate.client
        if isinstance(client, RedisCluster):
            each = functools.partial(client.info, "memory", target_nodes=RedisCluster.PRIMARIES)
            per_node = await gate.call(each, idempotent=True)
            return frozenset(str(i.get("maxmemory_policy", "")) for i in per_node.values())
        info = await gate.call(functools.partial(client.info, "memory"), idempotent=True)
        return frozenset({str(info.get("maxmemory_policy", ""))})
