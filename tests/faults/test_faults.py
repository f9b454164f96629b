"""Faults injected into real processes: Redis killed and hung under load, the app killed with
``kill -9`` mid-write, and a storm of cancelled requests against a slow Redis.

What is asserted is behaviour: which answers come back, how long a failing request may take to
say so (the configured deadline, with room for a loaded machine), and that nothing acknowledged
is lost or applied twice. How fast the happy path is belongs to bench/.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest

from parlour.config import load_settings
from parlour.errors import StorageUnavailable
from parlour.services.accounts import AccountService
from parlour.services.bookings.engine import BookingService
from parlour.storage import KVStore, Storage
from parlour.storage.redis import RedisBackend

from support.processes import serving
from support.redis_server import RedisServer
from support.salon import MASSAGE, at, client, furnish, upcoming_weekday
from support.waiting import until
from support.web import log_in

pytestmark = pytest.mark.fault

SECRET = "fault-test-secret-key-shared-by-every-process"
PASSWORD = "a long staff password"
TIMEOUT = 0.25  # PARLOUR_REDIS_TIMEOUT: every Redis operation gives up within twice this
FAIL_FAST = 1.0  # "within a second": the deadline (0.5 s) with room for a busy 2-core machine


def slots(day: date) -> Iterator[str]:
    """Every distinct massage start of a weekday, both therapists taken in turn."""
    for hour, minute in itertools.product(range(9, 17), (0, 30)):
        yield at(hour, minute, day=day)
        yield at(hour, minute, day=day)  # the second therapist


@dataclass
class Load:
    """Outcomes of a steady mixed load: (kind, status, seconds) and the bookings answered 201."""

    outcomes: list[tuple[str, int, float]] = field(default_factory=list)
    booked: dict[str, str] = field(default_factory=dict)  # manage token -> start

    def statuses(self, kind: str, since: int = 0) -> set[int]:
        return {status for k, status, _ in self.outcomes[since:] if k == kind}

    def slowest(self, kind: str, status: int, since: int = 0) -> float:
        return max(s for k, st, s in self.outcomes[since:] if k == kind and st == status)


def environment(tmp_path: Path, redis_url: str, data_backend: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "PARLOUR_DATA_BACKEND": data_backend,
        "PARLOUR_DATA_DIR": str(tmp_path / "data"),
        "PARLOUR_SECRET_KEY": SECRET,
        "PARLOUR_REDIS_TIMEOUT": str(TIMEOUT),
        "PARLOUR_BOOKING_RATE_LIMIT": "100000/1 minute",
        "PARLOUR_LOG_LEVEL": "error",
    }


async def seed(env: dict[str, str], staff: str = "desk@example.com") -> None:
    settings = load_settings(
        env_file=None,
        data_dir=Path(env["PARLOUR_DATA_DIR"]),
        redis_url=env.get("REDIS_URL"),
        data_backend=env["PARLOUR_DATA_BACKEND"],
        secret_key=SECRET,
    )
    async with Storage.from_settings(settings) as storage:
        await furnish(storage.kv)
        await AccountService(storage.kv("users")).create_user(staff, "admin", PASSWORD)


async def steady_load(
    base: str, staff_cookies: httpx.Cookies, stop: asyncio.Event, load: Load, days: list[date]
) -> None:
    """Public pages, staff pages and bookings, one of each at a time, until ``stop``."""
    todo = itertools.chain.from_iterable(slots(day) for day in days)
    counter = itertools.count()

    async def timed(kind: str, request: httpx.Request, http: httpx.AsyncClient) -> httpx.Response:
        began = time.monotonic()
        try:
            answer = await http.send(request)
        except httpx.TransportError:
            load.outcomes.append((kind, 0, time.monotonic() - began))
            raise
        load.outcomes.append((kind, answer.status_code, time.monotonic() - began))
        return answer

    async def public(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            await timed("public", http.build_request("GET", "/treatments"), http)

    async def staff(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            await timed("staff", http.build_request("GET", "/admin"), http)

    async def book(http: httpx.AsyncClient) -> None:
        start = next(todo)
        while not stop.is_set():
            n = next(counter)
            body = {"treatment": MASSAGE.id, "start": start, **client(n)}
            answer = await timed(
                "booking", http.build_request("POST", "/api/bookings", json=body), http
            )
            if answer.status_code == 201:
                load.booked[answer.json()["manage_token"]] = start
                start = next(todo)
            elif answer.status_code == 409:  # taken: the other therapist's turn came first
                start = next(todo)

    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as anonymous,
        httpx.AsyncClient(base_url=base, timeout=10, cookies=staff_cookies) as desk,
        httpx.AsyncClient(base_url=base, timeout=10) as booker,
    ):
        await asyncio.gather(public(anonymous), staff(desk), book(booker))


async def staff_cookies(base: str, email: str = "desk@example.com") -> httpx.Cookies:
    async with httpx.AsyncClient(base_url=base) as browser:
        await log_in(browser, email, PASSWORD)
        assert (await browser.get("/admin")).status_code == 200
        return browser.cookies


@pytest.fixture
def aof_redis(redis_binary: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis that keeps what it acknowledged (AOF, fsync every second)."""
    server = RedisServer(
        redis_binary, tmp_path / "aof-redis", "--appendonly", "yes", "--appendfsync", "everysec"
    ).start()
    yield server
    server.stop()


@pytest.mark.redis
@pytest.mark.parametrize("data_backend", ["sqlite", "redis"])
async def test_redis_killed_under_load(
    data_backend: str, aof_redis: RedisServer, tmp_path: Path
) -> None:
    env = environment(tmp_path, aof_redis.url, data_backend)
    await seed(env)
    days = [upcoming_weekday(3 + n) for n in range(0, 30)]
    load, stop = Load(), asyncio.Event()
    async with serving(tmp_path, env) as (base, _):
        cookies = await staff_cookies(base)
        driver = asyncio.create_task(steady_load(base, cookies, stop, load, days))
        try:
            await kill_and_revive(aof_redis, load, data_backend)
        finally:
            stop.set()
            await driver
        assert not load.statuses("staff") - {200, 503}
        assert not load.statuses("booking") - {201, 409, 503}
        async with httpx.AsyncClient(base_url=base) as http:
            for token in load.booked:
                assert (await http.get(f"/api/bookings/{token}")).status_code == 200, token


async def kill_and_revive(redis: RedisServer, load: Load, data_backend: str) -> None:
    """SIGKILL Redis under ``load``, check the answers during the outage, start it again and
    wait for the app to serve normally without a restart."""
    await until(lambda: len(load.booked) >= 10, what="ten bookings before the kill")
    redis.stop()  # SIGKILL
    killed = len(load.outcomes)
    await until(
        lambda: sum(k == "staff" and s == 503 for k, s, _ in load.outcomes[killed:]) >= 5,
        what="staff pages failing",
    )
    during = load.outcomes[killed:]
    assert load.statuses("staff", killed) <= {503, 200}  # 200: answered before the kill
    assert load.slowest("staff", 503, killed) < FAIL_FAST
    # Public pages need no session, and the catalogue comes from this instance's cache (it
    # is dropped on RESYNC when events flow again): they keep working.
    assert {s for k, s, _ in during[len(during) // 2 :] if k == "public"} == {200}
    if data_backend == "sqlite":
        # Bookings go on: they are stored in SQLite, and the booking rate limit's outage policy
        # is fail-open (logged).
        await until(
            lambda: any(k == "booking" and s == 201 for k, s, _ in load.outcomes[killed:]),
            what="a booking stored in SQLite while Redis is down",
        )
    else:
        await until(
            lambda: any(k == "booking" and s == 503 for k, s, _ in load.outcomes[killed:]),
            what="bookings failing while Redis holds them and is down",
        )
        assert load.slowest("booking", 503, killed) < FAIL_FAST

    redis.start()  # the same port and directory: it reloads its AOF
    recovered = len(load.outcomes)
    await until(
        lambda: any(k == "staff" and s == 200 for k, s, _ in load.outcomes[recovered:]),
        what="the staff page answering again, without restarting the app",
        timeout=20,
    )
    await until(
        lambda: any(k == "booking" and s == 201 for k, s, _ in load.outcomes[recovered:]),
        what="bookings succeeding again",
        timeout=20,
    )


@pytest.mark.redis
async def test_a_hung_redis_fails_requests_within_the_deadline_and_applies_nothing_twice(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    env = environment(tmp_path, private_redis.url, "redis")
    await seed(env)
    day = upcoming_weekday()
    body = {"treatment": MASSAGE.id, "start": at(11, day=day), **client(1)}
    retry = {"Idempotency-Key": "one-click-one-booking"}
    async with serving(tmp_path, env) as (base, _):
        cookies = await staff_cookies(base)
        async with (
            httpx.AsyncClient(base_url=base, timeout=10, cookies=cookies) as desk,
            httpx.AsyncClient(base_url=base, timeout=10) as api,
        ):
            availability = {"treatment": MASSAGE.id, "date": day.isoformat()}
            private_redis.freeze()  # SIGSTOP: the socket stays open, nothing answers
            try:
                for http, request in (
                    (desk, desk.build_request("GET", "/admin")),
                    (api, api.build_request("POST", "/api/bookings", json=body, headers=retry)),
                    (api, api.build_request("GET", "/api/availability", params=availability)),
                ):
                    began = time.monotonic()
                    answer = await http.send(request)
                    took = time.monotonic() - began
                    assert answer.status_code == 503, (request.url, answer.text)
                    assert took < FAIL_FAST, (request.url, took)
                    assert answer.headers["retry-after"]
            finally:
                private_redis.thaw()
            # The client retries with the same key, as a double-clicked button or a lost answer
            # would: whether or not the first attempt reached Redis, there is one booking.
            again = await api.post("/api/bookings", json=body, headers=retry)
            assert again.status_code in (200, 201), again.text
            third = await api.post("/api/bookings", json=body, headers=retry)
            assert third.status_code == 200
            assert third.json()["manage_token"] == again.json()["manage_token"]

    settings = load_settings(
        env_file=None, data_dir=tmp_path / "data", redis_url=private_redis.url, data_backend="redis"
    )
    async with Storage.from_settings(settings) as storage:
        catalogue = await furnish(storage.kv)
        on_that_day = await BookingService(storage.kv("bookings"), catalogue).day(
            day, ["r_ann", "r_bob"]
        )
    assert [b.email for b in on_that_day] == ["client1@example.com"]


async def test_kill_9_mid_bookings_loses_no_answered_booking(tmp_path: Path) -> None:
    env = {
        "PARLOUR_DATA_DIR": str(tmp_path / "data"),
        "PARLOUR_SECRET_KEY": SECRET,
        "PARLOUR_BOOKING_RATE_LIMIT": "100000/1 minute",
        "PARLOUR_LOG_LEVEL": "error",
        "PARLOUR_DATA_BACKEND": "sqlite",
    }
    await seed(env)
    days = [upcoming_weekday(3 + n) for n in range(0, 30)]
    todo = itertools.chain.from_iterable(slots(day) for day in days)
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
        await until(lambda: len(answered) >= 40, what="forty bookings answered")
        process.send_signal(signal.SIGKILL)
        killed.set()
        await asyncio.gather(*writers)
    database = tmp_path / "data" / "parlour.db"
    with sqlite3.connect(database) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    async with serving(tmp_path, env) as (base, _), httpx.AsyncClient(base_url=base) as http:
        for token, start in answered.items():
            found = await http.get(f"/api/bookings/{token}")
            assert found.status_code == 200, token
            assert datetime.fromisoformat(found.json()["start"]) == datetime.fromisoformat(start)


@pytest.mark.redis
async def test_a_cancellation_storm_against_a_slow_redis_never_crosses_answers(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    """Requests cancelled mid-command (client gone, deadline hit) must not leave a reply on a
    pooled connection for the next caller: each answer reaches only the one who asked."""
    backend = RedisBackend(private_redis.url, timeout=TIMEOUT, pool_size=8)
    await backend.open()
    try:
        kv = KVStore(backend, "sessions")
        keys = [f"user-{n}" for n in range(40)]
        for key in keys:
            await kv.set_item(key, {"who": key})
        stalls = asyncio.create_task(_stall_repeatedly(private_redis))
        crossed, cancelled, answered = [], 0, 0

        async def ask(key: str, patience: float) -> None:
            nonlocal cancelled, answered
            try:
                async with asyncio.timeout(patience):
                    value = await kv.get_item(key)
            except (TimeoutError, StorageUnavailable):
                cancelled += 1
                return
            answered += 1
            if value != {"who": key}:
                crossed.append((key, value))

        for round_ in range(300):  # until both outcomes were seen often enough to mean something
            await asyncio.gather(
                *(ask(key, patience=0.001 * ((n + round_) % 40)) for n, key in enumerate(keys))
            )
            if cancelled >= 100 and answered >= 100:
                break
        stalls.cancel()
        await asyncio.gather(stalls, return_exceptions=True)
        for key in keys:  # and after the storm, every connection still answers its own caller
            assert await kv.get_item(key) == {"who": key}
    finally:
        await backend.close()
    assert not crossed
    assert cancelled >= 100, "the storm cancelled too little to test anything"
    assert answered >= 100, "the storm let too little through to test anything"


async def _stall_repeatedly(server: RedisServer) -> None:
    """Stall Redis for 20 ms in every 40, so commands are in flight when callers give up."""

    def stall() -> None:
        with server.client() as admin:
            admin.execute_command("DEBUG", "SLEEP", "0.02")

    while True:
        await asyncio.to_thread(stall)
        await asyncio.sleep(0.02)


@pytest.mark.redis
async def test_disconnecting_clients_never_receive_another_staff_members_page(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    env = environment(tmp_path, private_redis.url, "redis")
    staff = [f"member{n}@example.com" for n in range(6)]
    await seed(env, staff[0])
    settings = load_settings(
        env_file=None, data_dir=tmp_path / "data", redis_url=private_redis.url, data_backend="redis"
    )
    async with Storage.from_settings(settings) as storage:
        accounts = AccountService(storage.kv("users"))
        for email in staff[1:]:
            await accounts.create_user(email, "staff", PASSWORD)
    async with serving(tmp_path, env) as (base, _):
        jars = {email: await staff_cookies(base, email) for email in staff}
        stalls = asyncio.create_task(_stall_repeatedly(private_redis))
        wrong, gave_up, seen = [], 0, 0

        async def visit(email: str, patience: float) -> None:
            nonlocal gave_up, seen
            async with httpx.AsyncClient(
                base_url=base, cookies=jars[email], timeout=patience
            ) as http:
                try:
                    page = await http.get("/admin")  # "Logged in as <e-mail>"
                except httpx.TimeoutException:
                    gave_up += 1  # the client hung up mid-request
                    return
            if page.status_code == 200:
                seen += 1
                others = [other for other in staff if other != email and other in page.text]
                if email not in page.text or others:
                    wrong.append((email, others))

        try:
            for round_ in range(100):  # until enough hung up and enough were answered
                await asyncio.gather(
                    *(
                        visit(email, patience=0.005 + 0.01 * ((n + round_) % 6))
                        for n, email in enumerate(staff * 3)
                    )
                )
                if gave_up >= 10 and seen >= 10:
                    break
        finally:
            stalls.cancel()
            await asyncio.gather(stalls, return_exceptions=True)
    assert not wrong
    assert gave_up >= 10, "too few clients hung up to test anything"
    assert seen >= 10, "too few pages were answered to test anything"
