"""Booking and availability over HTTP on the SQLite default and on Redis, each beside the same
server's GET /healthz in the same run.

    apt install wrk && python bench/booking.py [--seconds 5] [--rounds 3]

Each backend is served by one `parlour serve` process (uvicorn, one worker). Load comes from wrk
(one thread, 32 connections, ``--latency`` for the p99): GET /healthz (the stack's ceiling),
GET /api/availability of a day holding 200 bookings and of an empty day, and POST /api/bookings
through bench/booking.lua, every request for a distinct free slot (a 15-minute treatment, 10
therapists, quarter hours on the days after today). Rounds alternate the four; the figures are
medians of the rounds. wrk's own CPU is printed: under one core, it was not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.loadgen import CONNECTIONS, Run, require_wrk, wrk

from parlour.config import load_settings
from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.schedule import Hours, Schedule, to_utc
from parlour.services.bookings.engine import BookingService
from parlour.services.catalogue import Business, CatalogueService
from parlour.storage import Storage

from support.processes import served
from support.redis_server import RedisServer, find_redis_server
from support.salon import ask

THERAPISTS = [f"r_{n}" for n in range(10)]
QUICK = Treatment(
    id="t_quick", name="Quick", duration=15, price=1000, resource_ids=tuple(THERAPISTS)
)
RULES = BookingRules(timezone="Europe/London", min_notice=0, horizon_days=365)


async def furnish(storage: Storage) -> CatalogueService:
    catalogue = CatalogueService(
        storage.kv("business"), storage.kv("treatments"), storage.kv("resources")
    )
    await catalogue.put_business(Business(name="Bench", rules=RULES))
    every_day = Schedule(weekly=((Hours(clock_time(9), clock_time(17)),),) * 7)
    for resource in THERAPISTS:
        await catalogue.put_resource(Resource(resource, resource, every_day))
    await catalogue.put_treatment(QUICK)
    return catalogue


def slots(first_day: date) -> itertools.chain[tuple[str, str]]:
    """Every distinct (start, therapist) from ``first_day`` on, in order."""
    zone = RULES.zone

    def day(offset: int) -> list[tuple[str, str]]:
        d = first_day + timedelta(days=offset)
        return [
            (to_utc(d, clock_time(9 + q // 4, q % 4 * 15), zone).isoformat(), r)
            for q in range(32)
            for r in THERAPISTS
        ]

    return itertools.chain.from_iterable(day(offset) for offset in range(1, 300))


def bodies(first_day: date, skip: set[date], count: int, *, any_therapist: bool = False) -> str:
    """``count`` JSON bookings, one a line, for distinct slots after ``first_day``; with
    ``any_therapist``, without naming the therapist (the engine picks a free one)."""
    lines = []
    zone = RULES.zone
    for n, (start, resource) in enumerate(slots(first_day)):
        if datetime.fromisoformat(start).astimezone(zone).date() in skip:
            continue
        body = {
            "treatment": QUICK.id,
            "start": start,
            "resource": resource,
            "name": "Bench",
            "email": f"c{n}@example.com",
            "phone": "07700 900000",
        }
        if any_therapist:
            del body["resource"]
        lines.append(json.dumps(body))
        if len(lines) == count:
            break
    return "\n".join(lines) + "\n"


async def fill_a_day(storage: Storage, catalogue: CatalogueService, day: date) -> None:
    service = BookingService(
        storage.kv("bookings"),
        catalogue,
        clock=lambda: datetime.combine(day, clock_time(0), RULES.zone),
    )
    todo = [
        (to_utc(day, clock_time(9 + q // 4, q % 4 * 15), RULES.zone).isoformat(), r)
        for q in range(32)
        for r in THERAPISTS
    ][:200]
    for n, (start, resource) in enumerate(todo):
        await service.book(
            ask(
                {
                    "treatment": QUICK.id,
                    "start": start,
                    "resource": resource,
                    "name": "Bench",
                    "email": f"f{n}@example.com",
                    "phone": "07700 900000",
                }
            )
        )


KINDS = {
    "healthz": "GET /healthz (the ceiling)",
    "busy": "availability, a day of 200 bookings",
    "empty": "availability, an empty day",
    "book": "bookings created (distinct slots)",
    "book_any": "anyone free, 10 racing per start",
}
TARGETS = {"busy": 0.2, "empty": 0.3, "book": 0.05}
"""Issue 14's targets. "Anyone free" has none: its requests are not for distinct slots but ten
for each start time, so most of them race (each loss is a commit, and the loser reads its day
again); it shows what contention costs."""


async def measure(
    name: str, scratch: Path, store: dict[str, str], seconds: float, rounds: int
) -> dict[str, list[Run]]:
    """``store``: the environment that puts durable data on the backend (empty: SQLite)."""
    env = {
        "PARLOUR_DATA_DIR": str(scratch / name),
        "PARLOUR_LOG_LEVEL": "warning",
        "PARLOUR_BOOKING_RATE_LIMIT": "1000000/1 minute",
        **store,
    }
    settings = load_settings(
        env_file=None,
        data_dir=scratch / name,
        redis_url=store.get("REDIS_URL"),
        data_backend=store.get("PARLOUR_DATA_BACKEND", "sqlite"),
    )
    today = datetime.now(RULES.zone).date()
    busy_day, empty_day = today + timedelta(days=200), today + timedelta(days=150)
    async with Storage.from_settings(settings) as storage:
        catalogue = await furnish(storage)
        await fill_a_day(storage, catalogue, busy_day)
    lines = scratch / f"{name}-bodies.txt"
    lines.write_text(bodies(today, {busy_day, empty_day}, 40_000))
    # Days past the busy one, which the named-therapist runs never reach (320 bookings a day).
    anyone = scratch / f"{name}-anyone.txt"
    anyone.write_text(bodies(busy_day, {busy_day}, 20_000, any_therapist=True))
    runs: dict[str, list[Run]] = {kind: [] for kind in KINDS}
    async with served(scratch, env) as base:
        day = f"{base}/api/availability?treatment={QUICK.id}&date="
        urls = {
            "healthz": f"{base}/healthz",
            "busy": day + busy_day.isoformat(),
            "empty": day + empty_day.isoformat(),
        }
        for _ in range(rounds):
            for kind in KINDS:
                if kind in ("book", "book_any"):
                    # past every line an earlier run sent (answered or still in flight)
                    start = sum(
                        int((run.rate * seconds + run.errors) * 1.5) + 1000 for run in runs[kind]
                    )
                    source = lines if kind == "book" else anyone
                    run = wrk(f"{base}/api/bookings", seconds, script="booking.lua",
                              env={"BODIES": str(source), "START": str(start)})  # fmt: skip
                else:
                    run = wrk(urls[kind], seconds)
                runs[kind].append(run)
    return runs


def report(name: str, runs: dict[str, list[Run]]) -> None:
    ceiling = statistics.median(run.rate for run in runs["healthz"])
    print(f"\n {name}")
    for kind, label in KINDS.items():
        rate = statistics.median(run.rate for run in runs[kind])
        p99 = statistics.median(run.p99 for run in runs[kind]) * 1000
        errors = sum(run.errors for run in runs[kind])
        target = TARGETS.get(kind)
        note = f" (target >= {target}x)" if target else ""
        failed = f", {errors} answers not 2xx" if errors else ""
        print(
            f"   {label:<38} {rate:>8,.0f}/s  {rate / ceiling:.3f}x of /healthz{note}"
            f"   p99 {p99:,.1f} ms{failed}"
        )
    cpu = max(run.cpu for kind_runs in runs.values() for run in kind_runs)
    print(f"   wrk's own CPU: at most {cpu:.2f} of a core")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    require_wrk()
    binary = find_redis_server()
    if binary is None:
        sys.exit("redis-server not found: apt install redis-server")
    with tempfile.TemporaryDirectory() as scratch:
        server = RedisServer(binary, Path(scratch) / "redis").start()
        try:
            print(
                f"wrk, one thread, {CONNECTIONS} connections, {args.seconds:g} s a run, median of "
                f"{args.rounds} rounds; p99 is wrk's latency at that concurrency"
            )
            sqlite = await measure("SQLite", Path(scratch), {}, args.seconds, args.rounds)
            report("SQLite", sqlite)
            redis = {"REDIS_URL": server.url, "PARLOUR_DATA_BACKEND": "redis"}
            report("Redis", await measure("Redis", Path(scratch), redis, args.seconds, args.rounds))
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
