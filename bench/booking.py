"""Booking throughput through the HTTP API, on the SQLite default, Redis and PostgreSQL.

    python bench/booking.py [--seconds 5]

1. Booking creations per second: POST /api/bookings with 32 concurrent clients, every request
   for a distinct free slot (a 15-minute treatment, 10 therapists, 60 days of quarter hours).
2. Availability look-ups per second: GET /api/availability for a day that holds 200 bookings.

Each backend is served by one `parlour serve` process (uvicorn, one worker); the load comes
from a Python client. On PostgreSQL, sessions and limits follow the data there (no Redis).
No target yet: the issue asks for a report.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from collections import Counter
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from parlour.config import load_settings
from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.schedule import Hours, Schedule, to_utc
from parlour.services.bookings import BookingService
from parlour.services.catalogue import Business, CatalogueService
from parlour.storage import Storage

from support.postgres_server import PostgresServer, find_postgres_bin
from support.processes import served
from support.redis_server import RedisServer, find_redis_server
from support.salon import ask

CONCURRENCY = 32
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


async def creations(base: str, seconds: float, first_day: date) -> tuple[float, Counter[int]]:
    todo = slots(first_day)
    statuses: Counter[int] = Counter()
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(
        base_url=base, timeout=30, limits=httpx.Limits(max_connections=CONCURRENCY)
    ) as http:

        async def client(me: int) -> None:
            for n in itertools.count():
                if time.perf_counter() >= stop:
                    return
                start, resource = next(todo)
                response = await http.post(
                    "/api/bookings",
                    json={
                        "treatment": QUICK.id,
                        "start": start,
                        "resource": resource,
                        "name": "Bench",
                        "email": f"c{me}-{n}@example.com",
                        "phone": "07700 900000",
                    },
                )
                statuses[response.status_code] += 1

        began = time.perf_counter()
        await asyncio.gather(*(client(me) for me in range(CONCURRENCY)))
        elapsed = time.perf_counter() - began
    return statuses[201] / elapsed, statuses


async def lookups(base: str, seconds: float, day: date) -> float:
    done = 0
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(
        base_url=base, timeout=30, limits=httpx.Limits(max_connections=CONCURRENCY)
    ) as http:

        async def client() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                response = await http.get(
                    "/api/availability", params={"treatment": QUICK.id, "date": day.isoformat()}
                )
                assert response.status_code == 200, response.text
                done += 1

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
        return done / (time.perf_counter() - began)


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


async def measure(name: str, scratch: Path, store: dict[str, str], seconds: float) -> None:
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
        database_url=store.get("DATABASE_URL"),
        data_backend=store.get("PARLOUR_DATA_BACKEND", "sqlite"),
    )
    busy_day = datetime.now(RULES.zone).date() + timedelta(days=200)
    async with Storage.from_settings(settings) as storage:
        catalogue = await furnish(storage)
        await fill_a_day(storage, catalogue, busy_day)
    async with served(scratch, env) as base:
        created, statuses = await creations(base, seconds, datetime.now(RULES.zone).date())
        looked = await lookups(base, seconds, busy_day)
    print(
        f"   {name:<8} {created:>8,.0f} bookings/s  {looked:>8,.0f} look-ups/s   "
        f"(answers: {dict(statuses)})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    binary, postgres_bin = find_redis_server(), find_postgres_bin()
    if binary is None or postgres_bin is None:
        sys.exit("redis-server or PostgreSQL not found: apt install redis-server postgresql")
    with tempfile.TemporaryDirectory() as scratch:
        server = RedisServer(binary, Path(scratch) / "redis").start()
        postgres = PostgresServer(postgres_bin).start()  # fsync on, as in production
        try:
            print(
                f"{CONCURRENCY} concurrent clients, {args.seconds:g} s each; "
                "look-ups are of a day holding 200 bookings"
            )
            await measure("SQLite", Path(scratch), {}, args.seconds)
            redis = {"REDIS_URL": server.url, "PARLOUR_DATA_BACKEND": "redis"}
            await measure("Redis", Path(scratch), redis, args.seconds)
            alone = {"DATABASE_URL": postgres.fresh_database(), "PARLOUR_DATA_BACKEND": "postgres"}
            # a connection per client, as Redis's pool of 50 gives; a loaded 2-core host needs
            # more than the 1 s default deadline for a day's look-up behind 32 others
            alone |= {"PARLOUR_DATABASE_POOL_SIZE": "32", "PARLOUR_DATABASE_TIMEOUT": "2"}
            await measure("Postgres", Path(scratch), alone, args.seconds)
        finally:
            server.stop()
            postgres.destroy()


if __name__ == "__main__":
    asyncio.run(main())
