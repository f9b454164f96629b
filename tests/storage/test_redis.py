"""What the Redis backend promises beyond the contract: layout, cost, failure and recovery."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parlour.errors import StorageUnavailable
from parlour.storage import ChangeKind, KVStore
from parlour.storage.base import DELETE, canonical
from parlour.storage.redis import RedisBackend

from support.redis_server import RedisServer, collating_locale
from support.waiting import eventually

pytestmark = pytest.mark.redis
MISSING = object()


@pytest.fixture
async def backend(redis_url: str) -> AsyncIterator[RedisBackend]:
    opened = RedisBackend(redis_url)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def private_backend(private_redis: RedisServer) -> AsyncIterator[RedisBackend]:
    opened = RedisBackend(private_redis.url, timeout=0.25)
    await opened.open()
    yield opened
    await opened.close()


def command_calls(server: RedisServer) -> dict[str, int]:
    with server.client() as client:
        stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}


async def test_keys_live_under_the_prefix_and_namespace_hash_tag(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    kv = KVStore(backend, "sessions")
    await kv.set_item("abc", {"user": 1}, ttl=30)
    await kv.set_item("{x}*", 2)
    with redis_server.client() as client:
        assert sorted(client.keys("*")) == [
            "parlour:{sessions}:i",
            "parlour:{sessions}:v:abc",
            "parlour:{sessions}:v:{x}*",
        ]
        assert 0 < client.pttl("parlour:{sessions}:v:abc") <= 30_000
        assert client.pttl("parlour:{sessions}:v:{x}*") == -1  # no TTL asked, none set
        assert client.get("parlour:{sessions}:v:abc") == '{"user":1}'


async def test_listing_reads_the_namespace_index_never_the_keyspace(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    kv = KVStore(backend, "bookings")
    for n in range(300):
        await kv.set_item(f"b{n}", n)
    with redis_server.client() as client:
        pipe = client.pipeline(transaction=False)
        for n in range(20_000):
            pipe.set(f"unrelated:{n}", n)
        pipe.execute()
        client.config_resetstat()
    assert len(await kv.get_all_items()) == 300
    calls = command_calls(redis_server)
    assert "keys" not in calls
    assert "scan" not in calls
    assert calls["zscan"] <= 3  # 300 index entries in batches of 500, not 20,300 keys


async def test_index_entries_of_expired_items_are_reclaimed(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    kv = KVStore(backend, "sessions")
    for n in range(20):
        await kv.set_item(f"s{n}", n, ttl=0.1)

    async def reclaimed() -> bool:
        # A read settles the entries it finds due: an item still alive at that moment (Redis's
        # expiry a millisecond behind the index) is re-scored, not dropped, so one read that
        # returns nothing may still leave its entry; reads go on until none is left.
        if await kv.get_all_items() != {}:
            return False
        with redis_server.client() as client:
            left: int = client.zcard("parlour:{sessions}:i")
            return left == 0

    await eventually(reclaimed, what="the expired sessions' index entries reclaimed")


async def test_two_prefixes_share_a_redis_without_seeing_each_other(redis_url: str) -> None:
    ours, theirs = RedisBackend(redis_url), RedisBackend(redis_url, prefix="other")
    await ours.open()
    await theirs.open()
    try:
        mine, other = KVStore(ours, "bookings"), KVStore(theirs, "bookings")
        async with mine.subscribe() as events:
            await other.set_item("b1", "theirs")
            await mine.set_item("b2", "ours")
            event = await events.next(timeout=5)
        assert event is not None
        assert event.key == "b2"
        assert await mine.get_all_items() == {"b2": "ours"}
        assert await other.get_all_items() == {"b1": "theirs"}
    finally:
        await ours.close()
        await theirs.close()


async def test_a_dead_redis_fails_fast_and_is_used_again_when_back(
    private_backend: RedisBackend, private_redis: RedisServer
) -> None:
    kv = KVStore(private_backend, "sessions")
    await kv.set_item("before", 1)
    private_redis.stop()
    async with asyncio.timeout(3):  # the point: seconds at most, not redis-py's 20+
        with pytest.raises(StorageUnavailable, match="start Redis or unset REDIS_URL"):
            await kv.get_item("before")
        with pytest.raises(StorageUnavailable):
            await kv.set_if_absent("during", 1)
    private_redis.start()
    # Pooled connections died with the server; a read is retried once on a fresh connection.
    assert await kv.get_item("before", MISSING) is MISSING  # the test server keeps no data
    assert await kv.set_if_absent("after", 1) is True


async def test_a_hung_redis_fails_within_the_deadline(
    private_backend: RedisBackend, private_redis: RedisServer
) -> None:
    kv = KVStore(private_backend, "sessions")
    await kv.set_item("k", 1)
    private_redis.freeze()
    try:
        async with asyncio.timeout(private_backend.deadline + 1):
            with pytest.raises(StorageUnavailable, match="did not answer in time"):
                await kv.get_item("k")
    finally:
        private_redis.thaw()
    assert await kv.get_item("k") == 1


async def test_set_if_absent_is_never_sent_twice(
    private_backend: RedisBackend, private_redis: RedisServer
) -> None:
    kv = KVStore(private_backend, "bookings")
    await kv.set_item("warm-up", 1)  # loads the script, so the claim is a single EVALSHA
    with private_redis.client() as client:
        client.config_resetstat()
    private_redis.freeze()
    try:
        with pytest.raises(StorageUnavailable, match="did not answer in time"):
            await kv.set_if_absent("slot", "mine")
    finally:
        private_redis.thaw()

    async def slot_taken() -> bool:
        return await kv.get_item("slot") == "mine"

    await eventually(slot_taken, what="the claim sent before the stall being applied")
    assert command_calls(private_redis)["evalsha"] == 1


async def test_subscribers_hear_resync_after_pubsub_reconnects(
    private_backend: RedisBackend, private_redis: RedisServer
) -> None:
    kv = KVStore(private_backend, "bookings")
    async with kv.subscribe() as events:
        private_redis.restart()
        event = await events.next(timeout=15)
        assert event is not None
        assert event.kind is ChangeKind.RESYNC
        await kv.set_item("after", 1)
        event = await events.next(timeout=5)
    assert event is not None
    assert (event.key, event.kind) == ("after", ChangeKind.SET)
    assert private_backend.reconnects == 1


async def test_subscribing_while_redis_is_down_is_a_clear_error(
    private_backend: RedisBackend, private_redis: RedisServer
) -> None:
    private_redis.stop()
    with pytest.raises(StorageUnavailable, match="change events cannot be delivered"):
        async with KVStore(private_backend, "bookings").subscribe():
            pass


async def test_password_is_sent_and_a_wrong_one_is_explained(
    redis_binary: str, tmp_path: Path
) -> None:
    server = RedisServer(redis_binary, tmp_path / "auth", "--requirepass", "s3cret").start()
    try:
        right = RedisBackend(server.url, password="s3cret")
        wrong = RedisBackend(server.url, password="guess")
        await right.open()
        await wrong.open()
        try:
            await KVStore(right, "sessions").set_item("k", 1)
            with pytest.raises(StorageUnavailable, match="check REDIS_PASSWORD"):
                await KVStore(wrong, "sessions").get_item("k")
        finally:
            await right.close()
            await wrong.close()
    finally:
        server.stop()


def test_tls_setting_upgrades_the_url_scheme() -> None:
    assert RedisBackend("redis://h:6379/0", tls=True).url == "rediss://h:6379/0"
    assert RedisBackend("rediss://h:6380/0").url == "rediss://h:6380/0"
    assert RedisBackend("redis://h:6379/0").url == "redis://h:6379/0"


async def test_scripts_are_loaded_again_after_redis_forgets_them(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    kv = KVStore(backend, "bookings")
    await kv.set_item("before", 1)
    with redis_server.client() as client:
        client.script_flush()  # what a restart without persistence, or a failover, does
    assert await kv.set_if_absent("after", 2) is True
    assert await kv.get_all_items() == {"before": 1, "after": 2}


async def test_a_slid_item_outlives_its_first_index_score_and_stays_listed(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    kv = KVStore(backend, "sessions")
    await kv.set_item("slid", 1, ttl=0.2)
    await kv.set_item("left", 2, ttl=0.2)
    assert await kv.get_and_touch("slid", 60) == 1  # GETEX only: its index score stays early

    async def left_expired() -> bool:
        return await kv.get_item("left", MISSING) is MISSING

    await eventually(left_expired, what="the untouched item expiring")
    await kv.set_item("trigger", 3)  # a write settles a few due index entries on its way
    assert await kv.get_all_items() == {"slid": 1, "trigger": 3}
    with redis_server.client() as client:
        scores = dict(client.zrange("parlour:{sessions}:i", 0, -1, withscores=True))
    assert set(scores) == {"slid", "trigger"}  # the expired one is gone from the index
    assert scores["slid"] > time.time() * 1000 + 50_000  # re-scored from its real TTL


async def test_merges_write_byte_order_whatever_the_servers_locale(
    redis_binary: str, tmp_path: Path
) -> None:
    # The merge script sorts a document's fields with Lua's own comparison, which is strcoll:
    # byte order in the C locale, checked pair by pair. A server started in a locale that
    # collates otherwise must still write exactly the bytes Python writes (its fallback).
    env = collating_locale(tmp_path / "locale")
    if env is None:
        message = "localedef cannot build en_US.UTF-8 here: install Debian's locales package"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: a missing tool is a failure, not a skip)")
        pytest.skip(message)
    server = RedisServer(redis_binary, tmp_path / "redis", env=env).start()
    try:
        with server.client() as client:
            assert client.eval("return 'a' < 'B'", 0) == 1  # this server collates by locale
        opened = RedisBackend(server.url)
        await opened.open()
        try:
            kv = KVStore(opened, "alpha")
            fields = {name: name for name in ["B", "a", "é", "z", "Z", "_x", "ab", "A b", "😀"]}
            await kv.transact({}, merge={"day": fields})
            await kv.transact({}, merge={"day": {"b": "b", "a": DELETE}})
            raw = await opened.get("alpha", "day")
        finally:
            await opened.close()
    finally:
        server.stop()
    expected = {**fields, "b": "b"}
    del expected["a"]
    assert raw == canonical(expected)
