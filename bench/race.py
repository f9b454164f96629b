"""Bookings at once across two app processes: different slots all book, one slot books once.

    python bench/race.py [--slots 40] [--same 50] [--rounds 3] [--backends sqlite,redis,...]

For each backend (SQLite, Redis standalone, a Redis Cluster of three masters; PostgreSQL when
asked for and found), two ``parlour serve`` processes share one store, and:

1. ``--slots`` clients at once book ``--slots`` different back-to-back free slots of one room on
   one day (15 minutes each, no buffers, so none overlaps another): every one should succeed.
2. ``--same`` clients at once book one slot: exactly one should.

It prints how many of each succeeded per round, beside the target (the ceiling: all of them, and
exactly one). No timings: this counts outcomes, which is what the claims decide.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from parlour.config import load_settings
from parlour.storage import Storage

from support.postgres_server import PostgresServer, find_postgres_bin
from support.processes import served
from support.race import back_to_back, book_all, furnish_long_day, race_env
from support.redis_server import RedisServer, find_redis_server
from support.redis_topologies import Cluster
from support.salon import LONDON

SECRET = "bench/race.py: one secret for both instances"


@asynccontextmanager
async def backend_env(kind: str, directory: Path) -> AsyncIterator[dict[str, str]]:
    """The environment that puts both instances' data on a fresh ``kind`` store."""
    env = race_env(str(directory / "data"), SECRET)
    stop: Callable[[], None] = lambda: None  # noqa: E731
    if kind == "redis":
        server = RedisServer(_redis(), directory / "redis").start()
        env |= {"REDIS_URL": server.url, "PARLOUR_DATA_BACKEND": "redis"}
        stop = server.stop
    elif kind == "redis-cluster":
        cluster = Cluster(_redis(), directory / "cluster", masters=3).start()
        env |= {"REDIS_URL": cluster.url, "PARLOUR_DATA_BACKEND": "redis"}
        stop = cluster.stop
    elif kind == "postgres":
        binaries = find_postgres_bin()
        if binaries is None:
            raise SystemExit("no PostgreSQL binaries found")
        postgres = PostgresServer(binaries).start()
        env |= {"DATABASE_URL": postgres.url(), "PARLOUR_DATA_BACKEND": "postgres"}
        stop = postgres.stop
    try:
        yield env
    finally:
        stop()


def _redis() -> str:
    binary = find_redis_server()
    if binary is None:
        raise SystemExit("no redis-server found")
    return binary


async def one_round(kind: str, slots: int, same: int) -> tuple[Counter[int], Counter[int]]:
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        async with backend_env(kind, directory) as env:
            settings = load_settings(
                env_file=None,
                data_dir=directory / "data",
                redis_url=env.get("REDIS_URL"),
                database_url=env.get("DATABASE_URL"),
                data_backend=env.get("PARLOUR_DATA_BACKEND", "sqlite"),
            )
            async with Storage.from_settings(settings) as storage:
                await furnish_long_day(storage.kv)
            day = datetime.now(LONDON).date() + timedelta(days=3)
            async with served(directory, env) as one, served(directory, env) as two:
                different = await book_all([one, two], back_to_back(day, slots))
                other_day = day + timedelta(days=1)
                single = await book_all([one, two], back_to_back(other_day, 1) * same)
    return different, single


def describe(outcomes: Counter[int]) -> str:
    return ", ".join(f"{count}x {status}" for status, count in sorted(outcomes.items()))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slots", type=int, default=40)
    parser.add_argument("--same", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,redis,redis-cluster")
    options = parser.parse_args()
    print(f"{options.slots} different slots at once (target {options.slots} of {options.slots});")
    print(f"{options.same} requests for one slot at once (target exactly 1).")
    for kind in options.backends.split(","):
        for n in range(options.rounds):
            different, single = await one_round(kind, options.slots, options.same)
            print(
                f"{kind:14} round {n + 1}: different slots {different[201]}/{options.slots} "
                f"booked ({describe(different)}); one slot {single[201]} booked "
                f"({describe(single)})",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
