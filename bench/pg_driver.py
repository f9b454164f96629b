"""Which PostgreSQL driver the ``postgres`` backend uses: psycopg 3 or asyncpg, measured.

    python bench/pg_driver.py [--seconds 3]

Both drivers, each through its own pool of 16 connections, 64 concurrent callers, on one private
PostgreSQL cluster (started as the tests start it): the backend's two hottest statements, a
primary-key read and an upsert in its own transaction, in the same run. Prints ops/s and the
ratio of psycopg to asyncpg.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import psycopg_pool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.postgres_server import PostgresServer, find_postgres_bin

CONCURRENCY = 64
POOL = 16
TABLE = "CREATE TABLE IF NOT EXISTS kv (ns text, k text, v text, PRIMARY KEY (ns, k))"
READ = "SELECT v FROM kv WHERE ns = {0} AND k = {1}"
UPSERT = (
    "INSERT INTO kv (ns, k, v) VALUES ({0}, {1}, {2})"
    " ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v"
)


async def rate(operation: Callable[[int], Awaitable[object]], seconds: float) -> float:
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


async def with_psycopg(url: str, seconds: float) -> dict[str, float]:
    read, upsert = READ.format("%s", "%s"), UPSERT.format("%s", "%s", "%s")
    async with psycopg_pool.AsyncConnectionPool(url, min_size=POOL, max_size=POOL) as pool:
        async with pool.connection() as connection:
            await connection.execute(TABLE)

        async def get(n: int) -> None:
            async with pool.connection() as connection:
                await (await connection.execute(read, ("b", f"k{n % 1000}"))).fetchone()

        async def put(n: int) -> None:
            async with pool.connection() as connection:  # one transaction, committed on exit
                await connection.execute(upsert, ("b", f"k{n % 1000}", '{"n":1}'))

        return {"read": await rate(get, seconds), "upsert": await rate(put, seconds)}


async def with_asyncpg(url: str, seconds: float) -> dict[str, float]:
    read, upsert = READ.format("$1", "$2"), UPSERT.format("$1", "$2", "$3")
    pool = await asyncpg.create_pool(url, min_size=POOL, max_size=POOL)
    try:
        await pool.execute(TABLE)

        async def get(n: int) -> None:
            await pool.fetchval(read, "b", f"k{n % 1000}")

        async def put(n: int) -> None:
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute(upsert, "b", f"k{n % 1000}", '{"n":1}')

        return {"read": await rate(get, seconds), "upsert": await rate(put, seconds)}
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        sys.exit("PostgreSQL binaries not found: apt install postgresql")
    server = PostgresServer(bin_dir).start()
    try:
        psycopg = await with_psycopg(server.fresh_database(), args.seconds)
        asyncpg_ = await with_asyncpg(server.fresh_database(), args.seconds)
    finally:
        server.destroy()
    print(f"{CONCURRENCY} callers, pools of {POOL}, {args.seconds:.0f} s each")
    for what in ("read", "upsert"):
        ratio = psycopg[what] / asyncpg_[what]
        print(
            f"  {what:<7} psycopg {psycopg[what]:>8,.0f}/s   asyncpg {asyncpg_[what]:>8,.0f}/s"
            f"   psycopg/asyncpg {ratio:.2f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
