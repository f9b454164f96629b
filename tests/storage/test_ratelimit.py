"""Sliding windows, the same on memory and on real Redis (both with an injected clock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.crc import key_slot

from parlour.storage.postgres import PostgresBackend
from parlour.storage.postgres_ratelimit import PostgresRateLimits
from parlour.storage.ratelimit import MemoryRateLimits, RateLimitStore
from parlour.storage.redis import RedisBackend, RedisRateLimits

from support.redis_server import RedisServer
from support.redis_topologies import redis_params, url_for
from support.waiting import eventually

LIMIT, WINDOW = 3, 900.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(
    params=["memory", *redis_params(), pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def store(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[RateLimitStore]:
    if request.param == "memory":
        yield MemoryRateLimits(clock=clock)
        return
    if request.param == "postgres":
        postgres = PostgresBackend(request.getfixturevalue("postgres_url"))
        await postgres.open()
        yield PostgresRateLimits(postgres, clock=clock)
        await postgres.close()
        return
    backend = RedisBackend(url_for(request.param, request))
    await backend.open()
    yield RedisRateLimits(backend, clock=clock)
    await backend.close()


async def hit(store: RateLimitStore, *keys: str) -> bool:
    return (await store.hit("booking", keys, LIMIT, WINDOW)).allowed


async def test_exactly_the_limit_is_admitted(store: RateLimitStore, clock: Clock) -> None:
    verdicts = []
    for _ in range(LIMIT + 2):
        verdicts.append(await store.hit("booking", ["email:a"], LIMIT, WINDOW))
        clock.now += 1
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0, 0]
    # the first hit (at t0) leaves the window at t0 + 900; the fifth try was at t0 + 4
    assert verdicts[4].retry_after == pytest.approx(WINDOW - 4)


async def test_a_place_frees_exactly_when_the_oldest_hit_leaves(
    store: RateLimitStore, clock: Clock
) -> None:
    start = clock.now
    for step in range(LIMIT):
        clock.now = start + step * 60
        assert await hit(store, "email:a")
    clock.now = start + WINDOW - 0.001
    assert not await hit(store, "email:a")
    clock.now = start + WINDOW
    assert await hit(store, "email:a")
    assert not await hit(store, "email:a")  # the next place frees at start + 60 + 900


async def test_a_refused_attempt_does_not_extend_the_window(
    store: RateLimitStore, clock: Clock
) -> None:
    start = clock.now
    for _ in range(LIMIT):
        assert await hit(store, "email:a")
    for minute in range(1, 15):  # hammering while blocked...
        clock.now = start + minute * 60
        assert not await hit(store, "email:a")
    clock.now = start + WINDOW  # ...changes nothing: the window still ends 900 s after the hits
    assert await hit(store, "email:a")


async def test_every_identity_must_admit_and_a_refusal_counts_nowhere(
    store: RateLimitStore,
) -> None:
    for n in range(LIMIT):
        assert await hit(store, "email:busy", f"ip:{n}")
    # the e-mail is full, so this is refused, and the fresh IP is not charged for it
    assert not await hit(store, "email:busy", "ip:fresh")
    for n in range(LIMIT):
        assert await hit(store, f"email:other-{n}", "ip:fresh")
    assert not await hit(store, "email:another", "ip:fresh")


async def test_remaining_and_reset_follow_the_tightest_identity(
    store: RateLimitStore, clock: Clock
) -> None:
    start = clock.now
    assert await hit(store, "email:a", "ip:1")
    clock.now = start + 100
    verdict = await store.hit("booking", ["email:a", "ip:2"], LIMIT, WINDOW)
    assert verdict.remaining == 1  # the e-mail has two hits; the new IP has one
    assert verdict.reset == pytest.approx(WINDOW - 100)  # when the e-mail's first hit leaves


async def test_refund_and_clear(store: RateLimitStore) -> None:
    verdicts = [await store.hit("login", ["account:u"], LIMIT, WINDOW) for _ in range(LIMIT)]
    assert not (await store.hit("login", ["account:u"], LIMIT, WINDOW)).allowed
    await store.refund("login", ["account:u"], verdicts[0].token)
    assert (await store.hit("login", ["account:u"], LIMIT, WINDOW)).allowed
    assert not (await store.hit("login", ["account:u"], LIMIT, WINDOW)).allowed
    await store.clear("login", ["account:u"])
    peek = await store.hit("login", ["account:u"], LIMIT, WINDOW, record=False)
    assert (peek.allowed, peek.remaining) == (True, LIMIT)


async def test_buckets_are_separate(store: RateLimitStore) -> None:
    for _ in range(LIMIT):
        assert (await store.hit("login", ["ip:1"], LIMIT, WINDOW)).allowed
    assert (await store.hit("booking", ["ip:1"], LIMIT, WINDOW)).allowed


async def test_memory_reclaims_idle_windows(clock: Clock) -> None:
    store = MemoryRateLimits(clock=clock)
    for n in range(100):
        await store.hit("booking", [f"ip:{n}"], LIMIT, WINDOW)
    clock.now += WINDOW + 1
    for _ in range(4):
        await store.hit("booking", ["ip:new"], LIMIT, WINDOW)
    assert len(store) == 1


@pytest.mark.redis
async def test_redis_keys_expire_with_their_window_and_share_a_slot(
    redis_url: str, redis_server: RedisServer
) -> None:
    backend = RedisBackend(redis_url)
    await backend.open()
    try:
        await RedisRateLimits(backend).hit("booking", ["email:abc", "ip:def"], 3, 900)
    finally:
        await backend.close()
    with redis_server.client() as client:
        keys = sorted(client.keys("*"))
        assert keys == [
            "parlour:{ratelimit:booking}:email:abc",
            "parlour:{ratelimit:booking}:ip:def",
        ]
        assert all(0 < client.pttl(key) <= 900_000 for key in keys)
    assert len({key_slot(key.encode()) for key in keys}) == 1  # one script, one Cluster slot


@pytest.mark.postgres
async def test_postgres_decides_with_the_database_clock_and_reclaims_idle_windows(
    postgres_url: str,
) -> None:
    backend = PostgresBackend(postgres_url)
    await backend.open()
    try:
        limits = PostgresRateLimits(backend)  # no injected clock: clock_timestamp()
        first = await limits.hit("booking", ["email:a", "ip:b"], 2, 0.2)
        second = await limits.hit("booking", ["email:a"], 2, 0.2)
        third = await limits.hit("booking", ["email:a"], 2, 0.2)
        assert [first.allowed, second.allowed, third.allowed] == [True, True, False]
        assert 0 < third.retry_after <= 0.2

        async def admitted_again() -> bool:
            return (await limits.hit("booking", ["email:a"], 2, 0.2, record=False)).allowed

        await eventually(admitted_again, what="the window passing by the database's clock")

        async def reclaimed() -> bool:
            return await limits.reclaim() >= 1

        await eventually(reclaimed, what="idle windows being reclaimed")
    finally:
        await backend.close()


@pytest.mark.postgres
async def test_postgres_never_admits_more_than_the_limit_under_concurrency(
    postgres_url: str,
) -> None:
    backends = [PostgresBackend(postgres_url, timeout=2) for _ in range(2)]  # two instances
    for backend in backends:
        await backend.open()
    try:
        stores = [PostgresRateLimits(backend) for backend in backends]
        verdicts = await asyncio.gather(
            *(stores[n % 2].hit("login", ["email:x", f"ip:{n % 3}"], 5, 60) for n in range(40))
        )
        assert sum(verdict.allowed for verdict in verdicts) == 5
    finally:
        for backend in backends:
            await backend.close()
