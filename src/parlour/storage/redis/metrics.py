"""What the Redis backend tells ``/metrics``: this process's connections, and ``INFO`` from the
server (summed over the masters of a Cluster).

A Cluster's per-node pools have no public count in redis-py, so :func:`pool_counts` reads two
attributes of ``ClusterNode`` (``_free``, ``_connections``); pyproject bounds redis below the next
major version, and ``tests/storage/test_redis_private.py`` fails if either disappears.
"""

from __future__ import annotations

import functools
from typing import Any

from redis.asyncio import RedisCluster

from parlour.errors import StorageError
from parlour.storage.base import Sample
from parlour.storage.redis.gate import Gate, idle_and_in_use
from parlour.storage.redis.topology import Client

_UP = "1 when Redis answered the last scrape"


def pool_counts(client: Client) -> list[tuple[int, str]]:
    """(connections, "idle" | "in_use") for this process's pool."""
    if isinstance(client, RedisCluster):
        nodes = client.get_nodes()
        idle = sum(len(node._free) for node in nodes)  # redis-py keeps no public count
        opened = sum(len(node._connections) for node in nodes)
        return [(idle, "idle"), (opened - idle, "in_use")]
    idle, in_use = idle_and_in_use(client.connection_pool)
    return [(idle, "idle"), (in_use, "in_use")]


async def server_info(gate: Gate) -> dict[str, Any]:
    """INFO memory and clients, merged (summed over the masters of a Cluster)."""
    client = gate.client
    if isinstance(client, RedisCluster):
        each = functools.partial(client.info, target_nodes=RedisCluster.PRIMARIES)
        nodes: dict[str, dict[str, Any]] = {}
        for section in ("memory", "clients"):
            per_node = await gate.call(functools.partial(each, section), idempotent=True)
            for node, info in per_node.items():
                nodes.setdefault(node, {}).update(info)
        totals: dict[str, Any] = {}
        for info in nodes.values():
            for name in ("used_memory", "used_memory_peak", "connected_clients"):
                totals[name] = totals.get(name, 0) + info.get(name, 0)
        return totals
    memory = await gate.call(functools.partial(client.info, "memory"), idempotent=True)
    clients = await gate.call(functools.partial(client.info, "clients"), idempotent=True)
    return {**memory, **clients}


def samples(
    counts: list[tuple[int, str]], reconnects: int, info: dict[str, Any] | StorageError
) -> list[Sample]:
    """The backend's samples, from its pool counts, listener and ``INFO`` (or why there is none)."""
    found = [
        Sample(
            "parlour_redis_pool_connections",
            "This process's Redis connections",
            count,
            (("state", state),),
        )
        for count, state in counts
    ]
    found.append(
        Sample(
            "parlour_pubsub_reconnects",
            "Times the change-event connection came back",
            reconnects,
            counter=True,
        )
    )
    if isinstance(info, StorageError):
        return [*found, Sample("parlour_redis_up", _UP, 0)]
    return [
        *found,
        Sample("parlour_redis_up", _UP, 1),
        Sample("parlour_redis_used_memory_bytes", "Redis INFO used_memory",
               info.get("used_memory", 0)),
        Sample("parlour_redis_used_memory_peak_bytes", "Redis INFO used_memory_peak",
               info.get("used_memory_peak", 0)),
        Sample("parlour_redis_connected_clients", "Redis INFO connected_clients",
               info.get("connected_clients", 0)),
    ]  # fmt: skip
