"""The outbox's cost and its delivery speed, on real processes and a real SMTP server.

    python bench/outbox.py [--bookings 400] [--messages 1000]

1. The cost of the outbox in the booking's own step: bookings per second through
   BookingService.book() with the Notifier as its stage hook (confirmation, reminder and two
   staff alerts staged into the booking's transact), against the same bookings with no hook, in
   the same run (off, on, off again: the ratio is against the mean of the two), on SQLite and
   on Redis.
2. Messages delivered per second by two `parlour worker` processes sharing one Redis, to a local
   aiosmtpd server, against one worker alone.
3. Latency from a booking's commit (book() returning, messages staged by the Notifier) to its
   confirmation's arrival at the SMTP server, at a steady 50 bookings/s with the two workers
   running: p50 and p99.
4. Addresses the relay cannot take do not hold up the rest (issue 21, item 4): with 20
   messages to addresses that need SMTPUTF8 queued first, on a relay without it (aiosmtpd's
   default), the time until 40 ordinary messages have all arrived, against the same 40 alone;
   one worker with every default (PARLOUR_SMTP_TIMEOUT 10 s, PARLOUR_MAIL_RETRY_BASE 30 s),
   on SQLite, given --cap seconds at most.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from parlour.config import load_settings
from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.schedule import Hours, Schedule
from parlour.links import Links
from parlour.mail.setup import delivery_from_settings
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.records import BookRequest
from parlour.services.catalogue import Business, CatalogueService
from parlour.services.notices.messages import ProbeMessage, to_json
from parlour.services.notices.notifier import NoticePolicy, Notifier
from parlour.services.outbox.records import new_message
from parlour.services.outbox.store import Outbox
from parlour.services.sealing import Sealer
from parlour.storage import Storage
from parlour.storage.base import KVStore

from support.redis_server import RedisServer, find_redis_server
from support.smtp_server import SmtpServer

CONCURRENCY = 16
DATA = to_json(ProbeMessage(Business(name="Bench salon", phone="01225 000111"), "bench"))


SECRET = "b" * 48
SLOTS_PER_DAY = 47  # a 30-minute treatment, open 00:00 to 23:59
RESOURCES = 10


async def bench_salon(kv: Callable[[str], KVStore]) -> CatalogueService:
    """Ten therapists open every day from midnight to midnight: room for thousands of
    bookings without two of them wanting the same time."""
    catalogue = CatalogueService(kv("business"), kv("treatments"), kv("resources"))
    rules = BookingRules(timezone="UTC", min_notice=0, horizon_days=365, slot_step=30)
    await catalogue.put_business(Business(name="Bench salon", phone="01225 000111", rules=rules))
    schedule = Schedule(weekly=((Hours(wall(0), wall(23, 59)),),) * 7)
    ids = tuple(f"r{n}" for n in range(RESOURCES))
    for n, resource in enumerate(ids):
        therapist = Resource(resource, f"T{n}", schedule, email=f"{resource}@x.org")
        await catalogue.put_resource(therapist)
    await catalogue.put_treatment(Treatment("t1", "Massage", 30, 4000, ids))
    return catalogue


def notifier(store: KVStore, catalogue: CatalogueService) -> Notifier:
    policy = NoticePolicy(staff_alerts_to="desk@x.org")
    links = Links("http://127.0.0.1:8000")
    return Notifier(store, catalogue, Sealer(SECRET.encode()), links, policy)


def slot(n: int, first_day: date) -> tuple[str, str]:
    """The ``n``-th distinct (resource, start) of the bench salon."""
    day, rest = divmod(n, SLOTS_PER_DAY * RESOURCES)
    resource, half_hour = divmod(rest, SLOTS_PER_DAY)
    start = datetime.combine(first_day + timedelta(days=day), wall(0), UTC)
    return f"r{resource}", (start + timedelta(minutes=30 * half_hour)).isoformat()


async def bookings_per_second(service: BookingService, count: int, base: int) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)
    first_day = datetime.now(UTC).date() + timedelta(days=2)

    async def one(n: int) -> None:
        resource, start = slot(base + n, first_day)
        fields = {"treatment": "t1", "start": start, "resource": resource, "name": f"C {n}",
                  "email": f"c{base + n}@example.com", "phone": "07700 900123"}  # fmt: skip
        async with gate:
            await service.book(BookRequest.from_fields(fields))

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return count / (time.perf_counter() - started)


async def outbox_cost(redis_url: str, directory: Path, count: int) -> None:
    print(f"\n1. bookings/s through BookingService.book(), {CONCURRENCY} at once, {count} each;")
    print("   on: each stages a confirmation, a reminder and two staff alerts")
    for name, overrides in (
        ("sqlite", {}),
        ("redis", {"redis_url": redis_url, "data_backend": "redis"}),
    ):
        settings = load_settings(
            env_file=None, data_dir=directory / name, redis_timeout=3, **overrides
        )
        async with Storage.from_settings(settings) as storage:
            catalogue = await bench_salon(storage.kv)
            store = storage.kv("bookings")
            hook = notifier(store, catalogue).stage
            off = BookingService(store, catalogue)
            on = BookingService(store, catalogue, stage=hook)
            # Each run fills days of its own with an empty day between (a booking reads the
            # days either side), so each books into days as empty as the others'.
            day = SLOTS_PER_DAY * RESOURCES
            span = (-(-count // day) + 1) * day
            plain = await bookings_per_second(off, count, 0)
            staged = await bookings_per_second(on, count, span)
            plain_again = await bookings_per_second(off, count, 2 * span)
        baseline = (plain + plain_again) / 2
        print(
            f"   {name:<6} notifications off {baseline:7.0f}/s ({plain:.0f}, {plain_again:.0f})"
            f"   on {staged:7.0f}/s   ratio on/off {staged / baseline:.2f}x"
        )


@asynccontextmanager
async def workers(
    count: int, redis_url: str, smtp: SmtpServer, directory: Path
) -> AsyncIterator[None]:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "PARLOUR_DATA_BACKEND": "redis",
        "PARLOUR_SMTP_URL": smtp.url,
        "PARLOUR_SECRET_KEY": SECRET,
        "PARLOUR_LOG_LEVEL": "warning",
        "PARLOUR_REDIS_TIMEOUT": "2",
    }
    processes = []
    for n in range(count):
        (directory / f"w{n}").mkdir(parents=True, exist_ok=True)
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "parlour", "worker", cwd=directory / f"w{n}", env=env
            )
        )
    try:
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            await process.wait()


async def wait_for(smtp: SmtpServer, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while len(smtp.received) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(smtp.received)} of {count} arrived")
        await asyncio.sleep(0.005)


async def delivery(redis_url: str, directory: Path, count: int) -> None:
    print(f"\n2. messages delivered/s to a local aiosmtpd, {count} queued first")
    settings = load_settings(
        env_file=None, data_dir=directory / "q", redis_url=redis_url, data_backend="redis",
        secret_key=SECRET, redis_timeout=3,
    )  # fmt: skip
    rates = {}
    async with Storage.from_settings(settings) as storage:
        outbox = Outbox(storage.kv("bookings"))
        for instances in (1, 2):
            smtp = SmtpServer().start()
            gate = asyncio.Semaphore(CONCURRENCY)

            async def enqueue(n: int, box: Outbox = outbox, g: asyncio.Semaphore = gate) -> None:
                async with g:
                    await box.enqueue(new_message("test", [f"c{n}@x.org"], DATA, now=time.time()))

            await asyncio.gather(*(enqueue(n) for n in range(count)))
            started = time.perf_counter()
            async with workers(instances, redis_url, smtp, directory / f"run{instances}"):
                await wait_for(smtp, count)
                rates[instances] = count / (time.perf_counter() - started)
            duplicates = len(smtp.received) - len({r.message_id for r in smtp.received})
            smtp.stop()
            print(
                f"   {instances} worker(s): {rates[instances]:7.0f} messages/s "
                f"(including start-up), duplicates {duplicates}"
            )
    print(f"   two instances against one: {rates[2] / rates[1]:.2f}x")


async def latency(redis_url: str, directory: Path) -> None:
    settings = load_settings(
        env_file=None, data_dir=directory / "l", redis_url=redis_url, data_backend="redis",
        secret_key=SECRET, redis_timeout=3,
    )  # fmt: skip
    print("\n3. booking commit to its confirmation's arrival at 50 bookings/s, two workers")
    smtp = SmtpServer().start()
    async with Storage.from_settings(settings) as storage:
        catalogue = await bench_salon(storage.kv)
        store = storage.kv("bookings")
        service = BookingService(store, catalogue, stage=notifier(store, catalogue).stage)
        outbox = Outbox(store)
        first_day = datetime.now(UTC).date() + timedelta(days=2)
        async with workers(2, redis_url, smtp, directory / "latency"):
            await outbox.enqueue(new_message("test", ["warm@x.org"], DATA, now=time.time()))
            await wait_for(smtp, 1, timeout=60)  # both started and listening
            committed: dict[str, float] = {}
            for n in range(500):
                resource, start = slot(n, first_day)
                email = f"l{n}@example.com"
                fields = {"treatment": "t1", "start": start, "resource": resource,
                          "name": f"L {n}", "email": email, "phone": "07700 900123"}  # fmt: skip
                await service.book(BookRequest.from_fields(fields))
                committed[email] = time.time()
                await asyncio.sleep(0.02)
            # Each booking sends its confirmation and two staff alerts (desk, therapist) now.
            await wait_for(smtp, 1 + 3 * 500)
    smtp.stop()
    delays = sorted(
        (received.at - committed[received.recipients[0]]) * 1000
        for received in smtp.received
        if received.recipients[0] in committed
    )
    p50 = statistics.median(delays)
    p99 = delays[int(len(delays) * 0.99) - 1]
    print(f"   {len(delays)} confirmations: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


async def ordinary_after_refused(directory: Path, refused: int, cap: float) -> tuple[float, int]:
    """Seconds until 40 ordinary messages arrive with ``refused`` unsendable ones queued first
    (``cap`` if they do not all arrive), and how many arrived."""
    smtp = SmtpServer().start()  # no SMTPUTF8, as aiosmtpd's SMTP and many relays
    settings = load_settings(
        env_file=None, data_dir=directory / f"refused{refused}", data_backend="sqlite",
        secret_key=SECRET, smtp_url=smtp.url,
    )  # fmt: skip
    async with Storage.from_settings(settings) as storage:
        outbox = Outbox(storage.kv("bookings"))
        now = time.time()
        for n in range(refused):
            await outbox.enqueue(new_message("test", [f"josé{n}@x.org"], DATA, now=now - 1))
        for n in range(40):
            await outbox.enqueue(new_message("test", [f"c{n}@x.org"], DATA, now=now))
        worker = delivery_from_settings(settings, [outbox], None, SECRET.encode())
        started = time.perf_counter()
        worker.start()
        try:
            while len(smtp.received) < 40:
                if time.perf_counter() > started + cap:
                    break
                await asyncio.sleep(0.01)
            took = min(cap, time.perf_counter() - started)
        finally:
            await worker.stop()
            smtp.stop()
    return took, len(smtp.received)


async def refused_addresses(directory: Path, cap: float) -> None:
    print("\n4. 40 ordinary messages with 20 to addresses the relay cannot take queued first")
    logging.getLogger("parlour.mail").setLevel(logging.ERROR)  # twenty "is dead" lines
    alone, _ = await ordinary_after_refused(directory, 0, cap)
    took, arrived = await ordinary_after_refused(directory, 20, cap)
    print(f"   the 40 alone: {alone:6.2f} s")
    if arrived < 40:
        print(f"   after the 20: not all after {cap:.0f} s ({arrived} of 40 arrived)")
    else:
        print(f"   after the 20: {took:6.2f} s   ratio {took / alone:.2f}x (ceiling 2x)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=400)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--cap", type=float, default=240, help="seconds section 4 may wait")
    parser.add_argument("--sections", default="123", help="which to run, e.g. 3 or 4")
    args = parser.parse_args()
    binary = find_redis_server()
    if binary is None:
        raise SystemExit("redis-server not found")
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        redis = RedisServer(binary, directory / "redis").start()
        try:
            sections: dict[str, Callable[[], Awaitable[None]]] = {
                "1": lambda: outbox_cost(redis.url, directory, args.bookings),
                "2": lambda: delivery(redis.url, directory, args.messages),
                "3": lambda: latency(redis.url, directory),
                "4": lambda: refused_addresses(directory, args.cap),
            }
            for section, run in sections.items():
                if section in args.sections:
                    with redis.client() as client:
                        client.flushall()
                    await run()
        finally:
            redis.stop()
    print("\nProvisional: a loaded 2-core machine; the lead re-runs these quiet.")


if __name__ == "__main__":
    asyncio.run(main())
