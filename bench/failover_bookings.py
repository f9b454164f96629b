"""Bookings through Redis master failovers: is any acknowledged booking lost, any slot sold twice?

    python bench/failover_bookings.py [--kills 10]

On a Sentinel group (a master, a replica, three sentinels), eight bookers book through Parlour's
BookingService on Redis (socket timeout 0.25 s): a 15-minute treatment, ten therapists, 60 days
of quarter hours, each start tried again and again in a random order. ``--kills`` times the
current master is SIGKILLed once 15 more bookings were acknowledged; once Sentinel has promoted
the replica, the killed server is started again (as a supervisor would; it rejoins as a
replica) and bookings are waited for on the new master.

Per PARLOUR_REDIS_REPLICA_ACK setting (off, on): bookings acknowledged, attempts refused with
503, acknowledged bookings that can no longer be read (lost), pairs of bookings stored for one
therapist at overlapping times (sold twice), and the median booking latency (the cost of waiting
for the replica). Targets: 0 lost, 0 sold twice.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from parlour.config import load_settings
from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.schedule import Hours, Schedule, to_utc
from parlour.errors import ParlourError
from parlour.services.bookings.engine import BookingService
from parlour.services.catalogue import Business, CatalogueService
from parlour.storage import Storage

from support.redis_server import RedisServer, find_redis_server
from support.redis_topologies import SentinelGroup, wait_for
from support.salon import ask, client

THERAPISTS = [f"r_{n}" for n in range(10)]
QUICK = Treatment(
    id="t_quick", name="Quick", duration=15, price=1000, resource_ids=tuple(THERAPISTS)
)
RULES = BookingRules(timezone="Europe/London", min_notice=0, horizon_days=365)


async def furnish(storage: Storage) -> CatalogueService:
    """Ten therapists every day 9 to 17 and a 15-minute treatment: room for every booking."""
    catalogue = CatalogueService(
        storage.kv("business"), storage.kv("treatments"), storage.kv("resources")
    )
    await catalogue.put_business(Business(name="Bench", rules=RULES))
    every_day = Schedule(weekly=((Hours(clock_time(9), clock_time(17)),),) * 7)
    for resource in THERAPISTS:
        await catalogue.put_resource(Resource(resource, resource, every_day))
    await catalogue.put_treatment(QUICK)
    return catalogue


BOOKERS = 8
BETWEEN_KILLS = 15


async def run(binary: str, directory: Path, ack: str, kills: int) -> dict[str, float]:
    group = SentinelGroup(binary, directory).start()
    first = datetime.now(RULES.zone).date() + timedelta(days=1)
    days = [first + timedelta(days=n) for n in range(60)]
    starts = [
        to_utc(day, clock_time(h, m), RULES.zone).isoformat()
        for day in days
        for h in range(9, 17)
        for m in (0, 15, 30, 45)
    ]
    # Every start is tried again and again, in a random order: a claim lost in a failover is
    # found by a later attempt that should have been refused.
    attempts = itertools.cycle(random.sample(starts, len(starts)))
    settings = load_settings(
        env_file=None,
        data_dir=directory,
        redis_url=group.url,
        data_backend="redis",
        redis_replica_ack=ack,
        redis_timeout=0.25,
    )
    acknowledged: dict[str, str] = {}  # booking id -> start
    latencies: list[float] = []
    stop, progress = asyncio.Event(), asyncio.Event()
    errors: dict[str, int] = {}
    last: dict[str, str] = {}

    def moved(old: RedisServer) -> bool:
        return group.current_master() is not old

    def promotable() -> bool:
        """Every sentinel sees a healthy replica: the next kill can be failed over."""
        for sentinel in group.sentinels:
            with sentinel.client() as asking:
                replicas = asking.execute_command("SENTINEL REPLICAS", group.name)
            if not any(
                r["flags"] == "slave" and r.get("master-link-status") == "ok" for r in replicas
            ):
                return False
        return True

    async def bookings_reach(count: int, what: str) -> None:
        async with asyncio.timeout(60):  # a report, never a hang: no progress is a failure
            while len(acknowledged) < count:
                progress.clear()
                await progress.wait()

    try:
        async with Storage.from_settings(settings) as storage:
            catalogue = await furnish(storage)
            service = BookingService(storage.kv("bookings"), catalogue)
            for sentinel in group.sentinels:  # retry a failover of one master after 2 s, not 10
                with sentinel.client() as asking:
                    asking.execute_command("SENTINEL SET", group.name, "failover-timeout", 1000)
            counter = itertools.count()

            async def booker() -> None:
                while not stop.is_set():
                    start = next(attempts)
                    began = time.monotonic()
                    try:
                        booked = await service.book(
                            ask({"treatment": QUICK.id, "start": start, **client(next(counter))})
                        )
                    except ParlourError as exc:  # taken (409), or 503 during the failover
                        errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                        last[type(exc).__name__] = str(exc)[:300]
                        await asyncio.sleep(0.005)
                        continue
                    latencies.append(time.monotonic() - began)
                    acknowledged[booked.booking.id] = start
                    progress.set()
                    await asyncio.sleep(0.02)  # a steady load, not a flood

            bookers = [asyncio.create_task(booker()) for _ in range(BOOKERS)]
            try:
                last_failover = 0.0
                for _ in range(kills):
                    await bookings_reach(len(acknowledged) + BETWEEN_KILLS, "before the kill")
                    # A sentinel fails one master over again only after twice failover-timeout.
                    await asyncio.sleep(max(0.0, last_failover + 2.5 - time.monotonic()))
                    master = group.current_master()
                    await asyncio.to_thread(master.stop)  # SIGKILL
                    await asyncio.to_thread(wait_for, functools.partial(moved, master), "failover")
                    last_failover = time.monotonic()
                    # A supervisor restarts the dead server; it rejoins as the new replica. (With
                    # REPLICA_ACK on and one replica, durable writes wait for it: no replica, no
                    # acknowledgement.)
                    await asyncio.to_thread(master.start)
                    await bookings_reach(len(acknowledged) + 1, "after the failover")
                    await asyncio.to_thread(wait_for, master.replication_up, "the resync")
                    await asyncio.to_thread(wait_for, promotable, "a promotable replica", 60)
            except TimeoutError:
                print(f"   no progress ({len(acknowledged)} booked; errors {errors}, {last})")
                with group.sentinels[0].client() as asking:
                    print("   master", asking.execute_command("SENTINEL MASTER", group.name))
                raise
            finally:
                stop.set()
                await asyncio.gather(*bookers)
            lost = 0
            for booking_id in acknowledged:
                try:
                    await service.get(booking_id)
                except ParlourError:
                    lost += 1
            held: dict[str, Booking] = {}  # by id: a day's list may hold its neighbours' too
            for day in days:
                for b in await service.day(day, THERAPISTS):
                    if b.status is not Status.CANCELLED:
                        held[b.id] = b
            twice = sum(
                1
                for a, b in itertools.combinations(held.values(), 2)
                if a.resource_id == b.resource_id and _overlap(a, b)
            )
    finally:
        group.stop()
    return {
        "acknowledged": len(acknowledged),
        "lost": lost,
        "twice": twice,
        "median_ms": statistics.median(latencies) * 1000,
        "refused": errors.get("StorageUnavailable", 0),
    }


def _overlap(a: Booking, b: Booking) -> bool:
    def span(x: Booking) -> tuple[datetime, datetime]:
        first = x.start - timedelta(minutes=x.buffer_before)
        return first, x.start + timedelta(minutes=x.duration + x.buffer_after)

    (a0, a1), (b0, b1) = span(a), span(b)
    return a0 < b1 and b0 < a1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    binary = find_redis_server()
    if binary is None:
        sys.exit("redis-server not found: install it")
    print(f"{args.kills} master kills under booking load, {BOOKERS} bookers, Sentinel")
    print(
        f"{'REPLICA_ACK':<12} {'acknowledged':>12} {'503s':>6} {'lost':>5} {'twice':>6}"
        f" {'median ms':>10}"
    )
    results = {}
    for ack in ("off", "on"):
        with tempfile.TemporaryDirectory() as scratch:
            results[ack] = await run(binary, Path(scratch), ack, args.kills)
        r = results[ack]
        print(
            f"{ack:<12} {r['acknowledged']:>12,.0f} {r['refused']:>6,.0f} {r['lost']:>5.0f}"
            f" {r['twice']:>6.0f}"
            f" {r['median_ms']:>10.1f}"
        )
    cost = results["on"]["median_ms"] / results["off"]["median_ms"]
    print(f"waiting for the replica: median booking latency {cost:.2f}x of not waiting")


if __name__ == "__main__":
    asyncio.run(main())
