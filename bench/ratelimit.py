"""Rate-limit decisions per second, next to the `limits` library on the same Redis in the same run.

    pip install -e '.[bench]' && python bench/ratelimit.py [--seconds 2] [--rounds 3]

Every contender decides the same policy (100 per 15 minutes) for identities rotating over 1,000
keys, so every decision admits and records (the expensive path) with 64 concurrent callers:

- a plain redis-py GET loop: the ceiling for one round trip per decision;
- `limits` MovingWindowRateLimiter (async, redis-py implementation): one identity per call;
- Parlour, one identity; Parlour, two identities (e-mail AND IP) decided in one step;
- `limits` checking two identities the way its users must: one call after the other, which can
  also consume from one limit while the other refuses;
- Parlour on PostgreSQL (one call of ``parlour_ratelimit_hit``, the database's clock), with one
  and with two identities, on a private cluster with fsync on.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from parlour.storage.postgres import PostgresBackend
from parlour.storage.postgres_ratelimit import PostgresRateLimits
from parlour.storage.redis import RedisBackend, RedisRateLimits

from support.postgres_server import PostgresServer, find_postgres_bin
from support.redis_server import RedisServer, find_redis_server

CONCURRENCY = 64
IDENTITIES = 1000
LIMIT, WINDOW = 100, 900.0


async def rate(decide: Callable[[int], Awaitable[object]], seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def caller(me: int) -> None:
        nonlocal done
        n = me
        while time.perf_counter() < stop:
            await decide(n % IDENTITIES)
            n += CONCURRENCY
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(caller(me) for me in range(CONCURRENCY)))
    return done / (time.perf_counter() - start)


async def measure(url: str, postgres_url: str, seconds: float, rounds: int) -> dict[str, float]:
    plain = Redis.from_url(url, max_connections=CONCURRENCY)
    storage = RedisStorage(f"async+{url}", implementation="redispy", max_connections=CONCURRENCY)
    moving = MovingWindowRateLimiter(storage)
    policy = parse(f"{LIMIT}/15 minutes")
    backend = RedisBackend(url, pool_size=CONCURRENCY)
    await backend.open()
    ours = RedisRateLimits(backend)
    database = PostgresBackend(postgres_url, pool_size=16, timeout=2)
    await database.open()
    on_postgres = PostgresRateLimits(database)
    round_number = 0  # PostgreSQL windows start empty in each round under a bucket of its own

    async def get(n: int) -> None:
        await plain.get(f"plain:{n}")

    async def limits_one(n: int) -> None:
        await moving.hit(policy, "email", str(n))

    async def limits_two(n: int) -> None:
        if await moving.hit(policy, "email", str(n)):
            await moving.hit(policy, "ip", str(n))

    async def parlour_one(n: int) -> None:
        await ours.hit("booking", [f"email:{n}"], LIMIT, WINDOW)

    async def parlour_two(n: int) -> None:
        await ours.hit("booking", [f"email:{n}", f"ip:{n}"], LIMIT, WINDOW)

    async def postgres_one(n: int) -> None:
        await on_postgres.hit(f"booking{round_number}", [f"email:{n}"], LIMIT, WINDOW)

    async def postgres_two(n: int) -> None:
        keys = [f"email:{n}", f"ip:{n}"]
        await on_postgres.hit(f"booking{round_number}", keys, LIMIT, WINDOW)

    contenders = [
        ("plain redis-py GET (ceiling)", get),
        ("Parlour on PostgreSQL, 1 identity", postgres_one),
        ("Parlour on PostgreSQL, 2 identities", postgres_two),
        ("limits moving window, 1 identity", limits_one),
        ("Parlour, 1 identity", parlour_one),
        ("Parlour, 2 identities, 1 step", parlour_two),
        ("limits moving window, 2 calls", limits_two),
    ]
    # Rounds interleave the contenders, so a slow spell of this shared machine hits them all alike.
    runs: dict[str, list[float]] = {name: [] for name, _ in contenders}
    for round_number in range(rounds):  # noqa: B007 - read by the PostgreSQL contenders
        for name, decide in contenders:
            await plain.flushall()  # every contender starts from empty windows
            runs[name].append(await rate(decide, seconds))
    await backend.close()
    await database.close()
    await plain.aclose()
    return {name: statistics.median(measured) for name, measured in runs.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per contender and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-url", help="use this Redis (it is FLUSHALLed!)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        server = None
        url = args.redis_url
        if url is None:
            binary = find_redis_server()
            if binary is None:
                sys.exit("redis-server not found: install it or pass --redis-url")
            server = RedisServer(binary, Path(scratch) / "redis").start()
            url = server.url
        try:
            postgres_bin = find_postgres_bin()
            if postgres_bin is None:
                sys.exit("PostgreSQL not found: apt install postgresql")
            postgres = PostgresServer(postgres_bin).start()  # fsync on, as in production
            try:
                results = await measure(url, postgres.fresh_database(), args.seconds, args.rounds)
            finally:
                postgres.destroy()
        finally:
            if server is not None:
                server.stop()
    print(
        f"decisions per second, {CONCURRENCY} concurrent callers, "
        f"median of {args.rounds} interleaved rounds of {args.seconds:g} s"
    )
    for name, per_second in results.items():
        print(f"   {name:<36} {per_second:>9,.0f}/s")
    one, two = results["Parlour, 1 identity"], results["Parlour, 2 identities, 1 step"]
    peer, ceiling = (
        results["limits moving window, 1 identity"],
        results["plain redis-py GET (ceiling)"],
    )
    print(f"\n   Parlour 1 identity / limits:        {one / peer:.2f}x (target >= 1.0x)")
    print(f"   Parlour 2 identities / 1 identity:  {two / one:.2f}x (target >= 0.9x)")
    print(f"   Parlour 1 identity / ceiling:       {one / ceiling:.2f}x")
    pg_one = results["Parlour on PostgreSQL, 1 identity"]
    pg_two = results["Parlour on PostgreSQL, 2 identities"]
    print(f"   PostgreSQL / Redis, 1 identity:     {pg_one / one:.2f}x")
    print(f"   PostgreSQL / Redis, 2 identities:   {pg_two / two:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
