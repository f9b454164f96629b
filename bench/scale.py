"""One instance against two on one Redis: a mixed workload's throughput, and how fast a booking
made on one instance reaches the staff desk's live stream on the other.

    apt install wrk nginx-light && python bench/scale.py [--seconds 5] [--rounds 3]

Each instance is ``parlour serve`` (one uvicorn worker) with everything in Redis. nginx with
deploy/nginx.conf (round-robin, no stickiness) sits in front in both runs, so the only difference
is the number of instances. wrk (one thread, 32 connections) sends bench/mixed.lua's mix: 40%
public pages, 30% availability look-ups, 10% bookings (each for a free slot), 20% staff pages.
The rounds alternate one and two instances; the baseline is the one-instance run.

Event latency: a staff browser holds /admin/events open on instance two; bookings are made one
at a time on instance one; the time from sending the booking to the event arriving.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.booking import QUICK, RULES, THERAPISTS, furnish, slots

from parlour.config import load_settings
from parlour.services.accounts import AccountService
from parlour.storage import Storage

from support.processes import served
from support.redis_server import RedisServer, find_redis_server, free_port
from support.web import log_in

HERE = Path(__file__).resolve().parent
STAFF, PASSWORD = "bench@example.com", "a password for the bench"
EVENT_SAMPLES = 200


async def prepare(redis_url: str, scratch: Path) -> None:
    """The catalogue and a staff account, in an empty Redis."""
    await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True)
    settings = load_settings(
        env_file=None, data_dir=scratch, redis_url=redis_url, data_backend="redis"
    )
    async with Storage.from_settings(settings) as storage:
        await furnish(storage)
        await AccountService(storage.kv("users")).create_user(STAFF, "admin", PASSWORD)


def environment(redis_url: str, scratch: Path) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "PARLOUR_DATA_BACKEND": "redis",
        "PARLOUR_DATA_DIR": str(scratch),
        "PARLOUR_SECRET_KEY": "bench-secret-key-the-same-on-every-instance",
        "PARLOUR_LOG_LEVEL": "warning",
        "PARLOUR_BOOKING_RATE_LIMIT": "1000000/1 minute",
        "PARLOUR_TRUSTED_PROXIES": "127.0.0.1/32",
    }


@asynccontextmanager
async def nginx(instances: list[str], scratch: Path):  # type: ignore[no-untyped-def]
    """deploy/nginx.conf, pointed at ``instances``, on a free port."""
    port = free_port()
    config = (HERE.parent / "deploy" / "nginx.conf").read_text()
    servers = "".join(f"        server {base.removeprefix('http://')};\n" for base in instances)
    config = re.sub(r"(        server 127\.0\.0\.1:\d+[^\n]*\n)+", servers, config)
    config = config.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{port};")
    prefix = scratch / f"nginx-{port}"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "tmp").mkdir()
    config = config.replace("access_log logs/access.log;", "access_log off;")
    (prefix / "nginx.conf").write_text(config)
    process = await asyncio.create_subprocess_exec(
        "nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
        "-g", f"daemon off; pid {prefix / 'nginx.pid'};",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(200):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)  # polling for nginx to listen
        yield base
    finally:
        process.terminate()
        await process.wait()


async def staff_cookie(base: str) -> str:
    async with httpx.AsyncClient(base_url=base) as browser:
        answer = await log_in(browser, STAFF, PASSWORD)
        assert answer.status_code in (200, 303), answer.text
        cookie = f"parlour_session={browser.cookies['parlour_session']}"
    async with httpx.AsyncClient(base_url=base, headers={"cookie": cookie}) as staff:
        desk = await staff.get("/admin")
        assert desk.status_code == 200, "the staff cookie does not open the desk"
    return cookie


def booking_bodies(path: Path, count: int) -> None:
    """``count`` bookings, each for a distinct free slot, one JSON object per line."""
    todo = slots(datetime.now(RULES.zone).date())
    with path.open("w") as out:
        for n in range(count):
            start, resource = next(todo)
            out.write(
                f'{{"treatment": "{QUICK.id}", "start": "{start}", "resource": "{resource}", '
                f'"name": "Bench", "email": "s{n}@example.com", "phone": "07700 900000"}}\n'
            )


def wrk(base: str, seconds: float, env: dict[str, str]) -> tuple[float, int]:
    output = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{seconds:g}s", "-s", str(HERE / "mixed.lua"), base],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env, "WRK_THREADS": "1"},
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"statuses-errors (\d+)", output)
    assert rate, output
    assert errors, output
    return float(rate[1]), int(errors[1])


async def throughput(
    redis: RedisServer, scratch: Path, count: int, seconds: float
) -> tuple[float, int]:
    with redis.client() as client:
        client.flushall()
    await prepare(redis.url, scratch)
    env = environment(redis.url, scratch)
    async with AsyncExitStack() as stack:
        instances = [await stack.enter_async_context(served(scratch, env)) for _ in range(count)]
        front = await stack.enter_async_context(nginx(instances, scratch))
        bodies = scratch / "bodies.jsonl"
        booking_bodies(bodies, 20_000)
        lookup_day = (datetime.now(RULES.zone).date() + timedelta(days=3)).isoformat()
        wrk_env = {
            "BODIES": str(bodies),
            "STAFF_COOKIE": await staff_cookie(front),
            "LOOKUP_DAY": lookup_day,
            "TREATMENT": QUICK.id,
        }
        return await asyncio.to_thread(wrk, front, seconds, wrk_env)


async def event_latency(redis: RedisServer, scratch: Path) -> list[float]:
    with redis.client() as client:
        client.flushall()
    await prepare(redis.url, scratch)
    env = environment(redis.url, scratch)
    todo = slots(datetime.now(RULES.zone).date())
    delays = []
    async with (
        served(scratch, env) as one,
        served(scratch, env) as two,
        httpx.AsyncClient(base_url=one, timeout=10) as booker,
        httpx.AsyncClient(base_url=two, timeout=None) as desk,
    ):
        desk.headers["cookie"] = await staff_cookie(two)
        async with desk.stream("GET", "/admin/events") as stream:
            lines = stream.aiter_lines()
            while await anext(lines) != "event: hello":
                pass
            for n in range(EVENT_SAMPLES):
                start, resource = next(todo)
                sent = time.perf_counter()
                answer = await booker.post(
                    "/api/bookings",
                    json={
                        "treatment": QUICK.id,
                        "start": start,
                        "resource": resource,
                        "name": "Bench",
                        "email": f"e{n}@example.com",
                        "phone": "07700 900000",
                    },
                )
                assert answer.status_code == 201, answer.text
                while await anext(lines) != "event: booking":
                    pass
                delays.append(time.perf_counter() - sent)
    return delays


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt install wrk nginx-light")
    binary = find_redis_server()
    if binary is None:
        sys.exit("redis-server not found: install it")
    with tempfile.TemporaryDirectory() as scratch:
        redis = RedisServer(binary, Path(scratch) / "redis").start()
        try:
            rates: dict[int, list[float]] = {1: [], 2: []}
            errors = 0
            for number in range(args.rounds):
                for count in (1, 2):
                    folder = Path(scratch) / f"run-{number}-{count}"
                    rate, failed = await throughput(redis, folder, count, args.seconds)
                    rates[count].append(rate)
                    errors += failed
            delays = sorted(await event_latency(redis, Path(scratch) / "events"))
        finally:
            redis.stop()
    one, two = (statistics.median(rates[count]) for count in (1, 2))
    print(
        f"mixed workload through nginx (wrk, 32 connections), median of {args.rounds} rounds "
        f"of {args.seconds:g} s; {len(THERAPISTS)} therapists, {os.cpu_count()} CPU cores"
    )
    print(f"   one instance   {one:>8,.0f} requests/s")
    print(f"   two instances  {two:>8,.0f} requests/s   {two / one:.2f}x of one")
    print(f"   answers other than 2xx/3xx: {errors}")
    p99 = delays[min(len(delays) - 1, round(0.99 * len(delays)))]
    print(
        f"booking on instance one -> event on instance two's /admin/events, {len(delays)} "
        f"bookings: median {statistics.median(delays) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
