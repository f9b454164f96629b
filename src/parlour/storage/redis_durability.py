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
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from parlour.config import NAMESPACES
from parlour.errors import ConfigurationError, StorageUnavailable

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
