"""PARLOUR_REDIS_REPLICA_ACK: a durable write on Redis is acknowledged once a replica has it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parlour.config import load_settings
from parlour.errors import ConfigurationError, StorageUnavailable
from parlour.storage import KVStore, backend_for_spec
from parlour.storage.redis import RedisBackend

from support.redis_server import RedisServer
from support.redis_topologies import SentinelGroup, wait_for

pytestmark = pytest.mark.redis


def backend_on(url: str, tmp_path: Path, choice: str) -> RedisBackend:
    settings = load_settings(
        env_file=None, data_dir=tmp_path, redis_replica_ack=choice, redis_timeout=0.25
    )
    backend = backend_for_spec(url, settings)
    assert isinstance(backend, RedisBackend)
    return backend


def replica_of(group: SentinelGroup) -> RedisServer:
    return group.replica if group.current_master() is group.master else group.master


@pytest.fixture
async def acknowledged(sentinel_url: str, tmp_path: Path) -> AsyncIterator[RedisBackend]:
    backend = backend_on(sentinel_url, tmp_path, "auto")  # on, with Sentinel
    await backend.open()
    yield backend
    await backend.close()


async def test_every_acknowledged_booking_is_on_the_replica(
    acknowledged: RedisBackend, redis_sentinels: SentinelGroup
) -> None:
    bookings = KVStore(acknowledged, "bookings")
    replica = replica_of(redis_sentinels)
    with replica.client() as raw:
        for n in range(100):
            assert await bookings.transact({f"u{n}": "b", f"b{n}": {"n": n}})
            # acknowledged: the replica has it already, no waiting
            assert raw.get(acknowledged.item_key("bookings", f"b{n}")) == f'{{"n":{n}}}'


async def test_a_replica_that_does_not_confirm_makes_the_write_fail_within_the_deadline(
    acknowledged: RedisBackend, redis_sentinels: SentinelGroup, sentinel_url: str, tmp_path: Path
) -> None:
    bookings, sessions = KVStore(acknowledged, "bookings"), KVStore(acknowledged, "sessions")
    replica = replica_of(redis_sentinels)
    replica.freeze()
    try:
        began = time.monotonic()
        with pytest.raises(StorageUnavailable):  # "no replica confirmed it", or a timeout
            await bookings.set_item("b1", {"n": 1})
        assert time.monotonic() - began < acknowledged.deadline + 0.5
        await sessions.set_item("s1", {"user": "u1"})  # sessions do not wait: a login, at worst
        unacknowledged = backend_on(sentinel_url, tmp_path, "off")
        await unacknowledged.open()
        try:
            await KVStore(unacknowledged, "bookings").set_item("b2", {"n": 2})  # risk accepted
        finally:
            await unacknowledged.close()
    finally:
        replica.thaw()
        wait_for(replica.replication_up, "the replica to catch up again")


def test_auto_is_off_on_one_server_and_on_is_refused_on_cluster(tmp_path: Path) -> None:
    assert not backend_on("redis://127.0.0.1:6379/0", tmp_path, "auto").replica_ack_namespaces
    chosen = backend_on("redis://127.0.0.1:6379/0", tmp_path, "on").replica_ack_namespaces
    assert "bookings" in chosen
    assert "sessions" not in chosen
    with pytest.raises(ConfigurationError, match="not offered on Redis Cluster"):
        backend_on("redis+cluster://127.0.0.1:7000", tmp_path, "on")
    assert not backend_on("redis+cluster://127.0.0.1:7000", tmp_path, "auto").replica_ack_namespaces
