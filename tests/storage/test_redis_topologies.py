"""One URL names any Redis: one server, Sentinel, Cluster; TLS to each with a real certificate."""

from __future__ import annotations

import pytest
import redis.asyncio

from parlour.config import load_settings
from parlour.errors import ConfigurationError, StorageUnavailable
from parlour.storage import KVStore
from parlour.storage.redis import RedisBackend
from parlour.storage.redis.topology import parse

from support.redis_server import TlsRedisServer


def test_sentinel_urls_name_the_sentinels_and_the_master() -> None:
    topology = parse("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26380/shop/2")
    assert topology.kind == "sentinel"
    assert topology.addresses == (("10.0.0.1", 26379), ("10.0.0.2", 26380))
    assert topology.master == "shop"
    assert topology.options["db"] == 2
    assert topology.options["password"] == "pw"
    assert "pw" not in topology.where


def test_cluster_urls_and_the_cluster_switch() -> None:
    assert parse("redis+cluster://a:7000,b:7001").addresses == (("a", 7000), ("b", 7001))
    switched = parse("redis://a:7000", cluster=True)
    assert (switched.kind, switched.addresses) == ("cluster", (("a", 7000),))
    assert parse("redis+cluster://a:7000", tls=True).url.startswith("rediss+cluster://")


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis+sentinel://a:26379", "name the master"),
        ("redis+cluster://a:7000/3", "only database 0"),
        ("redis+cluster://a", "host:port"),
    ],
)
def test_malformed_topologies_are_explained(url: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        RedisBackend(url)


def test_settings_accept_every_topology_and_the_cluster_switch() -> None:
    for url in ("redis+sentinel://a:26379/m", "rediss+cluster://a:7000", "unix:///r.sock"):
        assert load_settings(env_file=None, redis_url=url).redis_url == url
    assert load_settings(
        env_file=None, redis_url="redis://a:7000", redis_cluster=True
    ).redis_cluster


@pytest.mark.redis
async def test_tls_with_a_self_signed_certificate(tls_redis: TlsRedisServer) -> None:
    backend = RedisBackend(tls_redis.url)
    await backend.open()
    try:
        kv = KVStore(backend, "sessions")
        await kv.set_item("k", {"over": "tls"})
        assert await kv.get_item("k") == {"over": "tls"}
        async with kv.subscribe() as events:  # pub/sub over TLS too
            await kv.set_item("k", 2)
            event = await events.next(timeout=5)
            assert event is not None
            assert event.key == "k"
    finally:
        await backend.close()


@pytest.mark.redis
async def test_the_tls_switch_upgrades_a_plain_url(tls_redis: TlsRedisServer) -> None:
    plain = tls_redis.url.replace("rediss://", "redis://")
    backend = RedisBackend(plain, tls=True)
    await backend.open()
    try:
        await backend.ping()
    finally:
        await backend.close()


@pytest.mark.redis
async def test_an_untrusted_certificate_is_refused(tls_redis: TlsRedisServer) -> None:
    backend = RedisBackend(f"rediss://127.0.0.1:{tls_redis.port}/0", timeout=1)  # system CAs only
    await backend.open()
    try:
        with pytest.raises(StorageUnavailable, match="certificate verify failed"):
            await backend.ping()
    finally:
        await backend.close()


@pytest.mark.parametrize(
    ("url", "tls", "cluster"),
    [
        ("unix:///tmp/walk/redis.sock", False, False),
        ("unix:///tmp/r.sock?db=2", True, False),
        ("redis://a:6379/0", False, True),
        ("redis://a:6379/0", True, False),
    ],
)
def test_a_url_keeps_its_shape_when_only_its_scheme_changes(
    url: str, tls: bool, cluster: bool
) -> None:
    # unix:///path was rewritten unix:/path, which redis-py refuses: every command failed.
    parsed = parse(url, tls=tls, cluster=cluster)
    assert parsed.url.partition("://")[2] == url.partition("://")[2]
    redis.asyncio.from_url(parsed.url.replace("+cluster", ""))  # redis-py reads it
