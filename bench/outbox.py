"""The outbox's cost and its delivery speed, on real processes and a real SMTP server.

    python bench/outbox.py [--bookings 2000] [--messages 1000]

1. The cost of the outbox in the booking's own step: booking-shaped transacts per second (claim
   the units, write the record, the token and the day list, as services/bookings.py does) with
   the confirmation and the reminder staged into the same transact, against the same transacts
   without them, in the same run, on SQLite and on Redis. (Provisional: until the booking engine's
   commit seam lands, this is the transact a booking makes, not a booking over HTTP.)
2. Messages delivered per second by two `parlour worker` processes sharing one Redis, to a local
   aiosmtpd server, against one worker alone.
3. Latency from a message's commit to its arrival at the SMTP server, at a steady 50 messages/s
   with the two workers running: p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from parlour.config import load_settings
from parlour.mail.messages import ProbeMessage, to_json
from parlour.services.catalogue import Business
from parlour.services.outbox import Outbox, new_message
from parlour.storage import Storage
from parlour.storage.base import ABSENT, KVStore

from support.redis_server import RedisServer, find_redis_server
from support.smtp_server import SmtpServer

CONCURRENCY = 16
DATA = to_json(ProbeMessage(Business(name="Bench salon", phone="01225 000111"), "bench"))


def booking_transact(n: int, with_messages: bool, now: float) -> dict[str, Any]:
    booking = f"b_{n:08d}"
    units = {f"u:r1:{n * 12 + u}": booking for u in range(12)}  # an hour of 5-minute units
    writes: dict[str, Any] = {
        **units,
        f"b:{booking}": {"id": booking, "email": f"c{n}@example.com", "start": "2027-01-01"},
        f"t:{secrets.token_hex(32)}": booking,
    }
    expect: dict[str, Any] = dict.fromkeys(units, ABSENT)
    merge: dict[str, dict[str, Any]] = {f"d:2027-01-{n % 28 + 1:02d}:r1": {booking: "10:00"}}
    if with_messages:
        for message in (
            new_message("confirmation", [f"c{n}@example.com"], DATA, now=now),
            new_message("reminder", [f"c{n}@example.com"], DATA, now=now, due=now + 86400),
        ):
            staged = Outbox.stage(message)
            writes |= staged.writes
            expect |= staged.expect
            for key, fields in staged.merge.items():
                merge.setdefault(key, {}).update(fields)
    return {"writes": writes, "expect": expect, "merge": merge}


async def transacts_per_second(store: KVStore, count: int, with_messages: bool, base: int) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)
    now = time.time()

    async def one(n: int) -> None:
        step = booking_transact(base + n, with_messages, now)
        async with gate:
            assert await store.transact(step["writes"], expect=step["expect"], merge=step["merge"])

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return count / (time.perf_counter() - started)


async def outbox_cost(redis_url: str, directory: Path, count: int) -> None:
    print(f"\n1. booking-shaped transacts/s, {CONCURRENCY} at once, {count} each")
    for name, overrides in (
        ("sqlite", {}),
        ("redis", {"redis_url": redis_url, "data_backend": "redis"}),
    ):
        settings = load_settings(
            env_file=None, data_dir=directory / name, redis_timeout=3, **overrides
        )
        async with Storage.from_settings(settings) as storage:
            store = storage.kv("bookings")
            plain = await transacts_per_second(store, count, False, 0)
            staged = await transacts_per_second(store, count, True, count)
            plain_again = await transacts_per_second(store, count, False, 2 * count)
        baseline = (plain + plain_again) / 2
        print(
            f"   {name:<6} without messages {baseline:8.0f}/s   with confirmation + reminder "
            f"{staged:8.0f}/s   ratio {staged / baseline:.2f}x"
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
        "PARLOUR_SECRET_KEY": "b" * 48,
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
        secret_key="b" * 48, redis_timeout=3,
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

    print("\n3. commit to arrival at 50 messages/s, two workers")
    smtp = SmtpServer().start()
    async with Storage.from_settings(settings) as storage:
        outbox = Outbox(storage.kv("bookings"))
        async with workers(2, redis_url, smtp, directory / "latency"):
            await outbox.enqueue(new_message("test", ["warm@x.org"], DATA, now=time.time()))
            await wait_for(smtp, 1, timeout=60)  # both started and listening
            committed: dict[str, float] = {}
            for n in range(500):
                message = new_message("test", [f"l{n}@x.org"], DATA, now=time.time())
                await outbox.enqueue(message)
                committed[message.id] = time.time()
                await asyncio.sleep(0.02)
            await wait_for(smtp, 501)
    smtp.stop()
    delays = []
    for received in smtp.received[1:]:
        message_id = received.message_id.strip("<>").split("@")[0].rsplit(".", 1)[0]
        delays.append((received.at - committed[message_id]) * 1000)
    delays.sort()
    p50 = statistics.median(delays)
    p99 = delays[int(len(delays) * 0.99) - 1]
    print(f"   {len(delays)} messages: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    binary = find_redis_server()
    if binary is None:
        raise SystemExit("redis-server not found")
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        redis = RedisServer(binary, directory / "redis").start()
        try:
            await outbox_cost(redis.url, directory, args.bookings)
            with redis.client() as client:
                client.flushall()
            await delivery(redis.url, directory, args.messages)
        finally:
            redis.stop()
    print("\nProvisional: a loaded 2-core machine; the lead re-runs these quiet.")


if __name__ == "__main__":
    asyncio.run(main())
