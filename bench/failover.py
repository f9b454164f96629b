"""How long writes fail when a Redis master dies, on Sentinel and on Cluster.

    python bench/failover.py [--runs 3]

Eight writers write steadily through Parlour's storage layer (socket timeout 0.25 s); after 300
writes succeed the master holding the namespace is SIGKILLed. Reported per run: the outage (from
the kill to the first write that succeeded after the last failure), how many writes failed, the
longest a failed write took to say so, and how many acknowledged writes the new master lacks
(asynchronous replication: what the dead master had not sent on). The baseline is the
configuration itself: Sentinel ``down-after-milliseconds 500``, Cluster ``cluster-node-timeout
1000``, the shortest a master can be declared dead.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from parlour.storage import KVStore
from parlour.storage.redis import RedisBackend

from support.failover import Run, kill_under_load, lost_writes
from support.redis_server import find_redis_server
from support.redis_topologies import Cluster, SentinelGroup


async def sentinel_run(binary: str, directory: Path) -> Run:
    group = SentinelGroup(binary, directory).start()
    try:
        return await measure(group.url, group.current_master().stop)
    finally:
        group.stop()


async def cluster_run(binary: str, directory: Path) -> Run:
    cluster = Cluster(binary, directory, masters=3, replicas=1).start()
    try:
        return await measure(cluster.url, cluster.master_of("failover").stop)
    finally:
        cluster.stop()


async def measure(url: str, kill: Callable[[], None]) -> Run:
    backend = RedisBackend(url, timeout=0.25)
    await backend.open()
    try:
        kv = KVStore(backend, "failover")
        run = await kill_under_load(kv, kill)
        await lost_writes(kv, run)
        return run
    finally:
        await backend.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    binary = find_redis_server()
    if binary is None:
        sys.exit("redis-server not found: install it")
    print(f"{'topology':<10} run  outage s  failed  slowest fail s  lost")
    for name, start in (("Sentinel", sentinel_run), ("Cluster", cluster_run)):
        outages = []
        for number in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory() as scratch:
                run = await start(binary, Path(scratch))
            outages.append(run.outage)
            print(
                f"{name:<10} {number:>3} {run.outage:>9.2f} {len(run.failures):>7} "
                f"{run.slowest_failure:>15.2f} {run.lost:>5}"
            )
        print(f"{name:<10} median outage {statistics.median(outages):.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
