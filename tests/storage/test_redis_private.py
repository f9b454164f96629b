"""What the Redis backend relies on in redis-py beyond its documented API, so that an upgrade that
takes it away fails here, not in production (pyproject bounds redis below the next major version).

- ``ClusterNode._free`` and ``ClusterNode._connections``: a Cluster's idle and opened connections
  for ``parlour_redis_pool_connections`` (storage/redis/metrics.py); redis-py keeps no public count.
- ``ConnectionPool.get_connection_count()`` (public) labels its counts with a state attribute whose
  name ends in ``state``, ``idle`` or not: the gate and the metrics read it that way.
"""

from __future__ import annotations

import collections

from redis.asyncio import ConnectionPool, RedisCluster
from redis.asyncio.cluster import ClusterNode

from parlour.storage.redis.gate import idle_and_in_use
from parlour.storage.redis.metrics import pool_counts


def test_a_cluster_node_still_keeps_its_free_and_opened_connections() -> None:
    node = ClusterNode("127.0.0.1", 7000)
    assert isinstance(node._free, collections.deque)
    assert isinstance(node._connections, list)


def test_the_cluster_pool_counts_read_every_node() -> None:
    cluster = RedisCluster(host="127.0.0.1", port=7000)
    for node in cluster.get_nodes():
        assert len(node._free) == len(node._connections) == 0
    assert pool_counts(cluster) == [(0, "idle"), (0, "in_use")]


async def test_the_public_pool_count_names_idle_and_used_connections() -> None:
    pool = ConnectionPool.from_url("redis://127.0.0.1:1")  # never connects
    states = [
        next(str(v) for k, v in attributes.items() if k.endswith("state"))
        for _, attributes in pool.get_connection_count()
    ]
    assert sorted(states) == ["idle", "used"]
    assert idle_and_in_use(pool) == (0, 0)
    pool.get_available_connection()  # type: ignore[no-untyped-call]  # made, not connected
    assert idle_and_in_use(pool) == (0, 1)
    await pool.aclose()
