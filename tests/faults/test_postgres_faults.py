"""Faults on PostgreSQL, with no Redis at all: the server restarted with ``pg_ctl restart -m
immediate`` under load, and the app killed with ``kill -9`` mid-booking.

Sessions and rate limits follow the data onto PostgreSQL (``auto``), so these also prove that a
deployment of PostgreSQL alone keeps logins and bookings through a database crash.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from parlour.config import load_settings
from parlour.services.accounts import AccountService
from parlour.storage import Storage

from .test_faults import FAIL_FAST, PASSWORD, SECRET, Load, slots, staff_cookies, steady_load
from support.postgres_server import PostgresServer
from support.processes import serving
from support.salon import MASSAGE, client, furnish, upcoming_weekday
from support.waiting import until

pytestmark = [pytest.mark.fault, pytest.mark.postgres]
TIMEOUT = 0.25  # PARLOUR_DATABASE_TIMEOUT: every operation gives up within twice this


def environment(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "PARLOUR_DATA_BACKEND": "postgres",
        "PARLOUR_DATA_DIR": str(tmp_path / "data"),
        "PARLOUR_SECRET_KEY": SECRET,
        "PARLOUR_DATABASE_TIMEOUT": str(TIMEOUT),
        "PARLOUR_BOOKING_RATE_LIMIT": "100000/1 minute",
        "PARLOUR_LOG_LEVEL": "error",
    }


async def seed(env: dict[str, str]) -> None:
    settings = load_settings(
        env_file=None,
        data_dir=Path(env["PARLOUR_DATA_DIR"]),
        database_url=env["DATABASE_URL"],
        data_backend="postgres",
        secret_key=SECRET,
    )
    async with Storage.from_settings(settings) as storage:
        await furnish(storage.kv)
        await AccountService(storage.kv("users")).create_user("desk@example.com", "admin", PASSWORD)


async def test_postgres_restarted_immediately_under_load(
    private_postgres: PostgresServer, tmp_path: Path
) -> None:
    env = environment(tmp_path, private_postgres.fresh_database())
    await seed(env)
    days = [upcoming_weekday(3 + n) for n in range(0, 30)]
    load, stop = Load(), asyncio.Event()
    async with serving(tmp_path, env) as (base, _):
        cookies = await staff_cookies(base)
        driver = asyncio.create_task(steady_load(base, cookies, stop, load, days))
        try:
            await until(
                lambda: len(load.booked) >= 10, what="ten bookings before the crash", timeout=30
            )
            before = len(load.outcomes)
            private_postgres.stop("immediate")  # a crash: no checkpoint, no goodbye
            await until(
                lambda: sum(k == "staff" and s == 503 for k, s, _ in load.outcomes[before:]) >= 3,
                what="staff pages failing while PostgreSQL is down",
            )
            assert load.slowest("staff", 503, before) < FAIL_FAST
            private_postgres.start_again()  # crash recovery replays the WAL
            recovered = len(load.outcomes)
            await until(
                lambda: any(k == "staff" and s == 200 for k, s, _ in load.outcomes[recovered:]),
                what="the staff page answering again, without restarting the app",
                timeout=30,
            )
            await until(
                lambda: any(k == "booking" and s == 201 for k, s, _ in load.outcomes[recovered:]),
                what="bookings succeeding again",
                timeout=30,
            )
        finally:
            stop.set()
            await driver
        assert not load.statuses("staff") - {200, 503}
        assert not load.statuses("booking") - {201, 409, 503}
        if any(s == 503 for k, s, _ in load.outcomes if k == "booking"):
            # A booking makes two calls before it can fail (the rate limit, which fails open,
            # then the booking itself), each within the deadline; plus the room FAIL_FAST gives.
            assert load.slowest("booking", 503) < 2 * 2 * TIMEOUT + FAIL_FAST
        async with httpx.AsyncClient(base_url=base) as http:
            for token in load.booked:  # every acknowledged booking survived the crash
                assert (await http.get(f"/api/bookings/{token}")).status_code == 200, token


async def test_pg_ctl_restart_immediate_while_booking(
    private_postgres: PostgresServer, tmp_path: Path
) -> None:
    """The restart the issue names, in one step, with bookers running throughout."""
    env = environment(tmp_path, private_postgres.fresh_database())
    await seed(env)
    load, stop = Load(), asyncio.Event()
    async with serving(tmp_path, env) as (base, _):
        cookies = await staff_cookies(base)
        driver = asyncio.create_task(
            steady_load(base, cookies, stop, load, [upcoming_weekday(3 + n) for n in range(30)])
        )
        try:
            await until(lambda: len(load.booked) >= 10, what="ten bookings first", timeout=30)
            await asyncio.to_thread(private_postgres.restart_immediate)
            after = len(load.booked)
            await until(
                lambda: len(load.booked) > after, what="bookings after the restart", timeout=30
            )
        finally:
            stop.set()
            await driver
        async with httpx.AsyncClient(base_url=base) as http:
            for token in load.booked:
                assert (await http.get(f"/api/bookings/{token}")).status_code == 200, token


async def test_kill_9_mid_bookings_loses_no_answered_booking_on_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    env = environment(tmp_path, postgres_url)
    env["PARLOUR_DATABASE_TIMEOUT"] = "2"  # sixteen bookers on two cores: not a fault test
    await seed(env)
    todo = itertools.chain.from_iterable(slots(upcoming_weekday(3 + n)) for n in range(30))
    answered: dict[str, str] = {}
    killed = asyncio.Event()

    async def booker(base: str, n: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for attempt in itertools.count():
                body = {
                    "treatment": MASSAGE.id,
                    "start": next(todo),
                    **client(n * 10_000 + attempt),
                }
                try:
                    answer = await http.post("/api/bookings", json=body)
                except httpx.TransportError:
                    return  # the process died under us: this one was never answered
                if answer.status_code == 201:
                    answered[answer.json()["manage_token"]] = body["start"]
                if killed.is_set():
                    return

    async with serving(tmp_path, env) as (base, process):
        writers = [asyncio.create_task(booker(base, n)) for n in range(16)]
        # about loss, not speed: room for a loaded 2-core machine
        await until(lambda: len(answered) >= 40, what="forty bookings answered", timeout=60)
        process.send_signal(signal.SIGKILL)
        killed.set()
        await asyncio.gather(*writers)
    async with serving(tmp_path, env) as (base, _), httpx.AsyncClient(base_url=base) as http:
        for token, start in answered.items():
            found = await http.get(f"/api/bookings/{token}")
            assert found.status_code == 200, token
            assert datetime.fromisoformat(found.json()["start"]) == datetime.fromisoformat(start)
