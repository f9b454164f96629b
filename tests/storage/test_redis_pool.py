"""The Redis connection pool under a burst: a request waits for a connection (up to the deadline)
instead of failing, while a hung Redis still fails within the deadline.

Every kind of checkout is in the mix: single commands, Lua scripts, pipelines (``ttls``),
index scans, rate-limit decisions, and the change-event listener that holds one connection for
as long as it listens.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from redis.asyncio import RedisCluster

from parlour.config import load_settings
from parlour.errors import StorageUnavailable
from parlour.services.accounts import AccountService
from parlour.storage import KVStore, Storage
from parlour.storage.redis import RedisBackend, RedisRateLimits

from support.processes import serving
from support.redis_server import RedisServer
from support.redis_topologies import redis_params, url_for
from support.salon import MASSAGE, at, client, furnish, upcoming_weekday
from support.web import form_token, log_in

pytestmark = pytest.mark.redis

POOL_SIZE = 10
BURST = 200
TIMEOUT = 1.0
"""PARLOUR_REDIS_TIMEOUT for the burst. Above the default 0.5 s: on a 2-core machine shared with
other test runs, this one process serving 200 requests at once can leave a reply unread for
longer than 0.5 s, which the socket timeout reports as Redis not answering. The pool is what is
tested here; on the old pool, the timeout changed nothing (redis-py refused at once)."""
SECRET = "pool-test-secret-key-shared-by-every-process"
PASSWORD = "a long staff password"
STAFF = "desk@example.com"


@pytest.fixture(params=redis_params())
async def small_pool(request: pytest.FixtureRequest) -> AsyncIterator[RedisBackend]:
    backend = RedisBackend(url_for(request.param, request), pool_size=2)
    await backend.open()
    yield backend
    await backend.close()


async def test_a_burst_on_a_pool_of_two_queues_for_connections_instead_of_failing(
    small_pool: RedisBackend,
) -> None:
    kv = KVStore(small_pool, "alpha")
    limits = RedisRateLimits(small_pool)
    async with kv.subscribe():  # the listener now holds a connection of its own
        await small_pool.start_events()
        jobs: list[Callable[[int], Awaitable[object]]] = [
            lambda n: kv.set_item(f"k{n % 7}", n, ttl=60),
            lambda n: kv.get_item(f"k{n % 7}"),
            lambda n: kv.get_many([f"k{m}" for m in range(7)]),
            lambda n: small_pool.ttls("alpha", [f"k{m}" for m in range(7)]),  # a pipeline
            lambda n: kv.get_all_items(),  # prune script, ZSCAN and MGET
            lambda n: kv.transact({f"t{n}": n}, merge={"index": {f"t{n}": "1"}}),
            lambda n: limits.hit("burst", [f"ip{n % 5}"], 1_000_000, 60.0),
        ]
        outcomes = await asyncio.gather(
            *(jobs[n % len(jobs)](n) for n in range(BURST)), return_exceptions=True
        )
    failures = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    assert failures == []
    opened = sum(count for count, _ in small_pool.pool_counts())
    client = small_pool.client
    nodes = len(client.get_nodes()) if isinstance(client, RedisCluster) else 1
    assert opened <= (2 + 1) * nodes  # the pool and the listener's one (a Cluster: per node)


class SlowToWelcome:
    """A TCP proxy in front of Redis that takes on new clients one at a time, ``each`` seconds
    apiece, as a busy server (or a loaded machine) does: a connection's first reply waits its
    turn; after that, bytes pass straight through."""

    def __init__(self, upstream_port: int, each: float) -> None:
        self.upstream_port, self.each = upstream_port, each
        self.turn = asyncio.Lock()
        self.pumps: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.welcome, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for pump in self.pumps:
            pump.cancel()
        await asyncio.gather(*self.pumps, return_exceptions=True)

    async def welcome(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        async with self.turn:
            await asyncio.sleep(self.each)  # the server's time for one new client
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self.pump(source, sink))
            self.pumps.add(task)

    @staticmethod
    async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        finally:
            sink.close()


async def test_fifty_commands_on_a_new_pool_do_not_time_out_connecting(
    private_redis: RedisServer,
) -> None:
    """Fifty commands at once on a new process made fifty connections at once, and where Redis
    takes on new clients one at a time (here 40 ms each), the later handshakes outlived the
    0.5 s socket timeout: 503 "did not answer in time" with Redis healthy, for commands that
    cannot be repeated. Connections are now made a few at a time, ahead of their command."""
    async with SlowToWelcome(private_redis.port, each=0.04) as url:
        backend = RedisBackend(url, timeout=0.5, pool_size=50)
        await backend.open()
        try:
            kv = KVStore(backend, "alpha")
            outcomes = await asyncio.gather(
                *(kv.set_if_absent("slot", n) for n in range(50)), return_exceptions=True
            )
            assert [o for o in outcomes if isinstance(o, BaseException)] == []
            assert outcomes.count(True) == 1
        finally:
            await backend.close()


async def test_callers_queue_past_the_deadline_while_redis_answers(
    private_redis: RedisServer,
) -> None:
    """Twelve callers on one connection, each holding it 0.1 s (DEBUG SLEEP: Redis answers,
    slowly): the last waits 1.1 s, past the 0.5 s deadline, and none is refused, because the
    queue moves. A wait bounded by the clock alone refused every caller past the deadline."""
    backend = RedisBackend(private_redis.url, timeout=0.25, pool_size=1)
    await backend.open()
    try:
        client = backend.client

        async def slow() -> object:
            sleep = functools.partial(client.execute_command, "DEBUG", "SLEEP", "0.1")
            return await backend.call(sleep, idempotent=True)

        outcomes = await asyncio.gather(*(slow() for _ in range(12)), return_exceptions=True)
        assert [o for o in outcomes if isinstance(o, BaseException)] == []
    finally:
        await backend.close()


async def test_a_hung_redis_still_fails_every_queued_caller_within_the_deadline(
    private_redis: RedisServer,
) -> None:
    backend = RedisBackend(private_redis.url, timeout=0.25, pool_size=2)
    await backend.open()
    try:
        kv = KVStore(backend, "alpha")
        await backend.start_events()
        await kv.set_item("k", 1)
        private_redis.freeze()
        try:
            began = time.monotonic()
            outcomes = await asyncio.gather(
                *(kv.get_item("k") for _ in range(20)), return_exceptions=True
            )
            took = time.monotonic() - began
        finally:
            private_redis.thaw()
        assert all(isinstance(o, StorageUnavailable) for o in outcomes), outcomes
        # Two run into the socket timeout; the rest queue for at most the rest of the deadline.
        assert took < backend.deadline + 0.5  # room for a loaded machine, far below redis-py's 20 s
        assert await kv.get_item("k") == 1
    finally:
        await backend.close()


def bookable_starts(count: int) -> Iterator[str]:
    """``count`` massage starts, two a day on distinct weekdays inside the booking horizon, so
    that the burst tests the pool and not contention on one day's bookings."""
    day, made = upcoming_weekday(3), 0
    while made < count:
        if day.weekday() < 5:
            for hour in (10, 14):
                yield at(hour, day=day)
                made += 1
        day += timedelta(days=1)


async def seed(env: dict[str, str]) -> None:
    settings = load_settings(
        env_file=None,
        data_dir=Path(env["PARLOUR_DATA_DIR"]),
        redis_url=env["REDIS_URL"],
        data_backend="redis",
        secret_key=SECRET,
    )
    async with Storage.from_settings(settings) as storage:
        await furnish(storage.kv)
        await AccountService(storage.kv("users")).create_user(STAFF, "admin", PASSWORD)


class Burst:
    """A mix of requests that each need Redis: bookings (API, rate-limited and stored in Redis),
    staff pages (a session read; the account page lists the user's sessions) and failed logins
    (a rate-limited form post). Logins verify a deliberately slow password hash, so they are a
    tenth of the mix rather than a fourth."""

    def __init__(self, base: str) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        self.api, self.desk, self.visitor = (
            httpx.AsyncClient(base_url=base, timeout=120, limits=limits) for _ in range(3)
        )
        self._starts = bookable_starts(BURST)
        self._names = itertools.count()
        self._token = ""
        self.bookings = 0

    async def __aenter__(self) -> Burst:
        assert (await log_in(self.desk, STAFF, PASSWORD)).status_code == 303
        self._token = form_token((await self.visitor.get("/login")).text)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for http in (self.api, self.desk, self.visitor):
            await http.aclose()

    async def booking(self) -> httpx.Response:
        self.bookings += 1
        body = {"treatment": MASSAGE.id, "start": next(self._starts), **client(next(self._names))}
        return await self.api.post("/api/bookings", json=body)

    async def failed_login(self) -> httpx.Response:
        form = {"email": f"x{next(self._names)}@example.com", "password": "wrong"}
        return await self.visitor.post("/login", data={**form, "csrf_token": self._token})

    def requests(self, count: int) -> list[Awaitable[httpx.Response]]:
        three: list[Callable[[], Awaitable[httpx.Response]]] = [
            self.booking,
            lambda: self.desk.get("/admin"),
            lambda: self.desk.get("/admin/account"),
        ]
        mix = [*three, *three, *three, self.failed_login]
        return [mix[n % len(mix)]() for n in range(count)]


@pytest.mark.fault
@pytest.mark.timeout(300)
async def test_200_concurrent_requests_on_a_pool_of_10_get_no_5xx_and_a_hung_redis_gets_503(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    env = {
        "REDIS_URL": private_redis.url,
        "PARLOUR_DATA_BACKEND": "redis",
        "PARLOUR_DATA_DIR": str(tmp_path / "data"),
        "PARLOUR_SECRET_KEY": SECRET,
        "PARLOUR_REDIS_POOL_SIZE": str(POOL_SIZE),
        "PARLOUR_REDIS_TIMEOUT": str(TIMEOUT),
        "PARLOUR_BOOKING_RATE_LIMIT": "100000/1 minute",
        "PARLOUR_LOGIN_RATE_LIMIT": "100000/1 minute",
        "PARLOUR_LOG_LEVEL": "error",
    }
    await seed(env)
    async with serving(tmp_path, env) as (base, _), Burst(base) as burst:
        answers = await asyncio.gather(*burst.requests(BURST), return_exceptions=True)
        statuses = [a.status_code if isinstance(a, httpx.Response) else repr(a) for a in answers]
        failed = [s for s in statuses if not isinstance(s, int) or s >= 500]
        assert not failed, f"{len(failed)} of {BURST} failed: {sorted(set(map(str, failed)))}"
        assert statuses.count(201) == burst.bookings  # and every booking went through

        # The desk's session on connections of its own: those the burst left idle may be closed
        # by uvicorn's keep-alive timeout (5 s) just as one is reused, a hang-up that says
        # nothing of Redis (seen once in CI).
        stalled_desk = httpx.AsyncClient(base_url=base, timeout=120, cookies=burst.desk.cookies)
        private_redis.freeze()
        try:
            began = time.monotonic()
            stalled = await asyncio.gather(
                *(stalled_desk.get("/admin") for _ in range(2 * POOL_SIZE)),
                return_exceptions=True,
            )
            took = time.monotonic() - began
        finally:
            private_redis.thaw()
            await stalled_desk.aclose()
        assert [getattr(a, "status_code", a) for a in stalled] == [503] * (2 * POOL_SIZE)
        assert took < 2 * TIMEOUT + 1.5  # the deadline (2 x PARLOUR_REDIS_TIMEOUT), plus room
