"""Storage layer throughput, next to the ceiling of a plain redis-py client in the same run.

    python bench/storage.py [--seconds 3] [--items 100000] [--unrelated 1000000]

1. set+get round trips per second through ``KVStore`` on memory, SQLite, Redis and PostgreSQL
   (64 concurrent callers), next to a plain redis-py GET/SET loop on the same Redis: the ceiling;
   and ``transact`` calls per second (three unit claims and a record, as a booking makes).
2. Listing a namespace of ``--items`` items in a Redis that also holds ``--unrelated`` other keys:
   ``get_all_items`` next to the ceiling (a plain redis-py GET loop over keys already known), an
   ``MGET`` of keys already known, the TypeScript guide's ``KEYS`` + ``MGET``, and ``SCAN MATCH``
   + ``MGET``; with the longest single command each one ran (from SLOWLOG): the time every other
   client of that Redis was kept waiting.

It starts a private redis-server (as the tests do) unless ``--redis-url`` names one to use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from parlour.storage import Backend, KVStore
from parlour.storage.base import ABSENT
from parlour.storage.memory import MemoryBackend
from parlour.storage.postgres import PostgresBackend
from parlour.storage.redis import RedisBackend
from parlour.storage.sqlite import SQLiteBackend

from support.postgres_server import PostgresServer, find_postgres_bin
from support.redis_server import RedisServer, find_redis_server

CONCURRENCY = 64


async def rate(operation: Callable[[int], Awaitable[object]], seconds: float) -> float:
    """Operations per second with CONCURRENCY callers looping for ``seconds``."""
    done = 0
    stop = time.perf_counter() + seconds

    async def caller(me: int) -> None:
        nonlocal done
        n = me
        while time.perf_counter() < stop:
            await operation(n)
            n += CONCURRENCY
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(caller(me) for me in range(CONCURRENCY)))
    return done / (time.perf_counter() - start)


async def round_trips(url: str, postgres_url: str, directory: Path, seconds: float) -> None:
    print(f"\n1. set+get pairs per second, {CONCURRENCY} concurrent callers, {seconds:.0f} s each")
    plain = Redis.from_url(url, decode_responses=True, max_connections=CONCURRENCY)

    async def plain_pair(n: int) -> None:
        await plain.set(f"plain:{n % 1000}", '{"n":1}')
        await plain.get(f"plain:{n % 1000}")

    ceiling = await rate(plain_pair, seconds)
    print(f"   {'redis-py SET+GET (ceiling)':<30} {ceiling:>10,.0f}/s   1.00x")
    backends: list[Backend] = [
        MemoryBackend(),
        SQLiteBackend(directory / "bench.db"),
        RedisBackend(url, pool_size=CONCURRENCY),
        PostgresBackend(postgres_url, pool_size=16, timeout=2),
    ]
    transacts: dict[str, float] = {}
    for backend in backends:
        await backend.open()
        kv = KVStore(backend, "bench")

        async def pair(n: int, kv: KVStore = kv) -> None:
            await kv.set_item(f"k{n % 1000}", {"n": n})
            await kv.get_item(f"k{n % 1000}")

        async def claim(n: int, kv: KVStore = kv) -> None:
            # what a booking does: three unit claims and its record, all or nothing
            units = {f"u{n}-{unit}": "b" for unit in range(3)}
            await kv.transact({**units, f"b{n}": {"n": n}}, expect=dict.fromkeys(units, ABSENT))

        measured = await rate(pair, seconds)
        transacts[backend.name] = await rate(claim, seconds)
        await backend.close()
        name = f"KVStore on {backend.name}"
        print(f"   {name:<30} {measured:>10,.0f}/s   {measured / ceiling:.2f}x")
    await plain.aclose()
    print(f"\n   transact/s (3 claims + a record), {CONCURRENCY} callers; ratio to SQLite")
    for name, per_second in transacts.items():
        print(f"   {name:<30} {per_second:>10,.0f}/s   {per_second / transacts['sqlite']:.2f}x")


async def timed(work: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    start = time.perf_counter()
    count = await work()
    return time.perf_counter() - start, count


async def listing(url: str, items: int, unrelated: int) -> None:
    print(f"\n2. listing {items:,} items in a Redis holding {unrelated:,} unrelated keys")
    # Any: redis-py types every reply as bytes | str, whatever decode_responses says.
    raw: Any = Redis.from_url(url, decode_responses=True)
    await raw.flushall()
    await raw.execute_command("DEBUG", "POPULATE", unrelated, "unrelated")
    backend = RedisBackend(url, pool_size=CONCURRENCY)
    await backend.open()
    kv = KVStore(backend, "bookings")

    async def writer(me: int) -> None:
        for n in range(me, items, CONCURRENCY):
            await kv.set_item(f"b{n}", {"n": n, "name": "Facial, 60 min"})

    await asyncio.gather(*(writer(me) for me in range(CONCURRENCY)))
    pattern = backend.item_key("bookings", "*")
    known = [backend.item_key("bookings", f"b{n}") for n in range(items)]

    async def fetch(keys: list[str]) -> int:
        found = 0
        for chunk in (keys[i : i + 500] for i in range(0, len(keys), 500)):
            # Decoded, as the guide's getAllItems did with JSON.parse and get_all_items does.
            found += sum(json.loads(value) is not None for value in await raw.mget(chunk))
        return found

    async def parlour() -> int:
        return len(await kv.get_all_items())

    async def keys_then_mget() -> int:  # what the TypeScript guide did
        return await fetch(await raw.keys(pattern))

    async def scan_then_mget() -> int:
        return await fetch([key async for key in raw.scan_iter(match=pattern, count=1000)])

    async def mget_known() -> int:  # the keys are already known: nothing to find, only fetch
        return await fetch(known)

    async def get_loop() -> int:  # the ceiling: plain GETs of known keys, 64 at a time
        async def getter(me: int) -> int:
            found = 0
            for key in known[me::CONCURRENCY]:
                found += json.loads(await raw.get(key)) is not None
            return found

        return sum(await asyncio.gather(*(getter(me) for me in range(CONCURRENCY))))

    await raw.config_set("slowlog-log-slower-than", 0)
    await raw.config_set("slowlog-max-len", 1_000_000)
    results = {}
    for name, work in [
        ("plain GET loop (ceiling)", get_loop),
        ("MGET of known keys", mget_known),
        ("get_all_items", parlour),
        ("KEYS + MGET (the guide)", keys_then_mget),
        ("SCAN MATCH + MGET", scan_then_mget),
    ]:
        await raw.slowlog_reset()
        seconds, count = await timed(work)
        assert count == items, f"{name} found {count} of {items}"
        stall = max(entry["duration"] for entry in await raw.slowlog_get(1_000_000))
        results[name] = (seconds, stall)
    base = results["plain GET loop (ceiling)"][0]
    print(f"   {'':<28} {'wall':>9} {'vs ceiling':>11} {'longest server stall':>22}")
    for name, (seconds, stall) in results.items():
        wall, ratio = f"{seconds * 1000:,.0f} ms", f"{base / seconds:.2f}x"
        print(f"   {name:<28} {wall:>9} {ratio:>11} {stall / 1000:>19.1f} ms")
    await backend.close()
    await raw.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--unrelated", type=int, default=1_000_000)
    parser.add_argument(
        "--redis-url", help="use this Redis (it is FLUSHALLed!) instead of a private one"
    )
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
                await round_trips(url, postgres.fresh_database(), Path(scratch), args.seconds)
            finally:
                postgres.destroy()
            await listing(url, args.items, args.unrelated)
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    asyncio.run(main())
