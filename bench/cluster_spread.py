"""Salons spread over a Redis Cluster of three masters: keys per master, and where a booking
load's commands go.

    python bench/cluster_spread.py [--salons 1000] [--bookings 300]

A Cluster of three masters (tests/support/redis_topologies.py, real redis-server processes, the
slots split evenly) holds ``--salons`` salons, each furnished (its business, two therapists,
three treatments) through its own stores: on Redis every key of a salon carries the hash tag
``{s.<slug>}``, so a salon's keys share one slot and salons spread over the slots. Counted per
master with SCAN (``*{s.*}*``, the salons' keys only): each should hold between 0.8x and 1.2x of
an even share. Then one booking in each of ``--bookings`` salons (the engine's atomic step:
claims, record, index and outbox in one transaction in the salon's slot), and each master's
INFO commandstats before and after: every master should have served some of it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parlour.config import load_settings
from parlour.storage import Storage

from support.redis_server import find_redis_server
from support.redis_topologies import Cluster
from support.tenancy import (
    book_in_each,
    calls_per_master,
    furnish_salons,
    salon_keys_per_master,
    spread,
)

LOW, HIGH = 0.8, 1.2


async def measure(cluster: Cluster, data: Path, salons: int, bookings: int) -> bool:
    settings = load_settings(
        env_file=None,
        data_dir=data,
        redis_url=cluster.url,
        data_backend="redis",
        tenancy="multi",
        platform_domain="bench.test",
    )
    slugs = [f"salon{n}" for n in range(salons)]
    async with Storage.from_settings(settings) as storage:
        began = time.perf_counter()
        catalogues = await furnish_salons(storage, slugs)
        furnished = time.perf_counter() - began
        keys = salon_keys_per_master(cluster)
        before = calls_per_master(cluster)
        began = time.perf_counter()
        made = await book_in_each(storage, dict(list(catalogues.items())[:bookings]))
        booked = time.perf_counter() - began
        after = calls_per_master(cluster)
    shares = spread(keys)
    calls = [a - b for a, b in zip(after, before, strict=True)]
    print(f"{salons} salons furnished in {furnished:.1f} s; {sum(keys)} salons' keys in all")
    print(f"{'master':>8} {'slots':>13} {'keys':>7} {'x even':>7} {'booking cmds':>13}")
    for n, (master, count, share, served) in enumerate(
        zip(cluster.masters, keys, shares, calls, strict=True)
    ):
        slots = cluster.slots[n]
        print(
            f"{master.port:>8} {slots.start:>6}-{slots.stop - 1:<6} {count:>7} {share:>7.3f} "
            f"{served:>13}"
        )
    print(f"{made} bookings in {made} salons in {booked:.1f} s ({made / booked:.0f}/s, one caller)")
    keys_ok = all(LOW <= share <= HIGH for share in shares)
    every_master = all(served > 0 for served in calls)
    print(
        f"keys within {LOW}x-{HIGH}x of an even share on every master: {keys_ok}; "
        f"the booking load reached every master: {every_master}"
    )
    return keys_ok and every_master


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--salons", type=int, default=1000)
    parser.add_argument("--bookings", type=int, default=300)
    args = parser.parse_args()
    binary = find_redis_server()
    if binary is None:
        sys.exit("redis-server not found: apt install redis-server, or pip install -e '.[test]'")
    with tempfile.TemporaryDirectory() as directory:
        cluster = Cluster(binary, Path(directory) / "cluster").start()
        try:
            ok = asyncio.run(measure(cluster, Path(directory) / "data", args.salons, args.bookings))
        finally:
            cluster.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
