"""What waiting for a pooled Redis connection costs: Parlour's gate next to redis-py's own.

    python bench/pool.py [--seconds 3] [--pool 10] [--callers 200]

``--callers`` tasks do GET+SET pairs on a pool of ``--pool`` connections, so most of them queue:

- Parlour: ``RedisBackend.call`` (a plain ``ConnectionPool`` behind an ``asyncio.Semaphore``, a
  caller giving up only when Redis answers nothing for the rest of the deadline), with the
  change-event listener subscribed on its reserved connection, as in the app;
- the peer: a plain redis-py client on a ``BlockingConnectionPool`` whose timeout is the deadline
  (1 s: twice the socket timeout).

It prints pairs per second for each, how many failed, and the ratio (Parlour's pairs also encode
JSON and run a Lua script each write, so the ratio is an upper bound of the gate's cost). It starts
a private redis-server, as the tests do. Figures on a shared machine are provisional.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from parlour.errors import StorageError
from parlour.storage import KVStore
from parlour.storage.redis import RedisBackend

from support.redis_server import RedisServer, find_redis_server


async def pairs_per_second(
    pair: Callable[[int], Awaitable[object]], callers: int, seconds: float
) -> tuple[float, int]:
    """Pairs per second, and how many pairs failed (a refused or timed-out checkout)."""
    done = failed = 0
    stop = time.monotonic() + seconds

    async def caller(n: int) -> None:
        nonlocal done, failed
        while time.monotonic() < stop:
            try:
                await pair(n)
            except (RedisError, StorageError):
                failed += 1
            else:
                done += 1

    began = time.monotonic()
    await asyncio.gather(*(caller(n) for n in range(callers)))
    return done / (time.monotonic() - began), failed


async def parlour(url: str, pool: int, callers: int, seconds: float) -> tuple[float, int]:
    backend = RedisBackend(url, pool_size=pool)
    await backend.open()
    try:
        await backend.start_events()
        kv = KVStore(backend, "bench")

        async def pair(n: int) -> None:
            await kv.set_item(f"k{n}", n)
            await kv.get_item(f"k{n}")

        return await pairs_per_second(pair, callers, seconds)
    finally:
        await backend.close()


async def blocking_pool(url: str, pool: int, callers: int, seconds: float) -> tuple[float, int]:
    connections = BlockingConnectionPool.from_url(
        url, max_connections=pool, timeout=1.0, socket_timeout=0.5, decode_responses=True
    )
    client = Redis.from_pool(connections)
    try:

        async def pair(n: int) -> None:
            await client.set(f"k{n}", n)
            await client.get(f"k{n}")

        return await pairs_per_second(pair, callers, seconds)
    finally:
        await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--callers", type=int, default=200)
    args = parser.parse_args()
    binary = find_redis_server()
    if binary is None:
        sys.exit("redis-server not found")
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(binary, Path(directory)).start()
        try:
            ours, ours_failed = await parlour(server.url, args.pool, args.callers, args.seconds)
            peer, peer_failed = await blocking_pool(
                server.url, args.pool, args.callers, args.seconds
            )
        finally:
            server.stop()
    print(f"{args.callers} callers on a pool of {args.pool}, set+get pairs per second:")
    print(f"  Parlour (semaphore gate, listener subscribed)  {ours:9,.0f}  failed {ours_failed}")
    print(f"  redis-py BlockingConnectionPool (timeout 1 s)  {peer:9,.0f}  failed {peer_failed}")
    print(f"  ratio                                          {ours / peer:9.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
