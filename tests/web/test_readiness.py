"""/readyz tells the truth about Redis, and the app stops serving a Redis that lost or may evict
its durable data (issue 11.10). Real redis-server processes, changed the way operators and
accidents change them: CONFIG SET maxmemory, an evicting policy, FLUSHALL, a restart without
persistence, REPLICAOF."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.storage.durability import RECORD, Durability
from parlour.web.app import create_app
from parlour.web.parts import parts

from support.redis_server import RedisServer
from support.salon import MASSAGE, at, client, furnish, upcoming_weekday
from support.waiting import eventually
from support.web import running

pytestmark = pytest.mark.redis

Instance = Callable[..., AbstractAsyncContextManager[tuple[Starlette, httpx.AsyncClient]]]


@pytest.fixture
def instance(private_redis: RedisServer, tmp_path: Path) -> Instance:
    """An app on the private Redis with a data directory of its own (``name``)."""

    @asynccontextmanager
    async def start(
        name: str = "one", **overrides: Any
    ) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
        settings = load_settings(
            env_file=None,
            redis_url=private_redis.url,
            data_dir=tmp_path / name,
            secret_key="readiness-test-secret-key-shared-by-instances",
            **overrides,
        )
        app = create_app(settings)
        async with running(app) as http:
            yield app, http

    return start


def redis_says(server: RedisServer, *command: str) -> None:
    with server.client() as redis:
        redis.execute_command(*command)


async def ready(http: httpx.AsyncClient) -> tuple[int, str]:
    answer = await http.get("/readyz")
    return answer.status_code, answer.json()["backends"].get("redis", "")


def book(n: int) -> dict[str, str]:
    return {"treatment": MASSAGE.id, "start": at(10, day=upcoming_weekday()), **client(n)}


async def test_a_full_redis_under_noeviction_is_not_ready(
    instance: Instance, private_redis: RedisServer
) -> None:
    async with instance() as (_, http):
        assert await ready(http) == (200, "ok")
        redis_says(private_redis, "CONFIG", "SET", "maxmemory", "1")
        status, reason = await ready(http)
        assert status == 503
        assert "OOM" in reason or "memory" in reason
        redis_says(private_redis, "CONFIG", "SET", "maxmemory", "0")
        assert await ready(http) == (200, "ok")


async def test_a_read_only_replica_is_not_ready(
    instance: Instance, private_redis: RedisServer, redis_server: RedisServer
) -> None:
    async with instance() as (_, http):
        assert await ready(http) == (200, "ok")
        redis_says(private_redis, "REPLICAOF", "127.0.0.1", str(redis_server.port))
        status, reason = await ready(http)
        assert status == 503
        assert "READONLY" in reason or "read only" in reason.lower()
        redis_says(private_redis, "REPLICAOF", "NO", "ONE")
        assert await ready(http) == (200, "ok")


async def test_durable_data_under_an_evicting_policy_is_refused_until_fixed(
    instance: Instance, private_redis: RedisServer
) -> None:
    async with instance(data_backend="redis") as (app, http):
        await furnish(parts(app).storage.kv)
        assert (await http.post("/api/bookings", json=book(1))).status_code == 201
        redis_says(private_redis, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
        status, reason = await ready(http)
        assert status == 503
        assert "maxmemory-policy allkeys-lru" in reason
        assert "noeviction" in reason
        refused = await http.post("/api/bookings", json=book(2))
        assert refused.status_code == 503
        assert (await http.get("/treatments")).status_code == 503
        assert (await http.get("/healthz")).status_code == 200

        redis_says(private_redis, "CONFIG", "SET", "maxmemory-policy", "noeviction")

        async def serving() -> bool:
            return (await http.get("/treatments")).status_code == 200

        await eventually(serving, what="serving again once the policy is noeviction")
        assert await ready(http) == (200, "ok")


async def test_sessions_only_under_an_evicting_policy_warn_and_serve(
    instance: Instance, private_redis: RedisServer, tmp_path: Path
) -> None:
    redis_says(private_redis, "CONFIG", "SET", "maxmemory-policy", "volatile-lru")
    async with instance() as (app, http):
        assert await ready(http) == (200, "ok")
        verdict = await parts(app).durability.assess()
        assert verdict.problem is None
        assert verdict.warning
        assert "maxmemory-policy volatile-lru" in verdict.warning


@pytest.mark.parametrize("accident", ["flushall", "restart"])
async def test_an_emptied_redis_is_not_served_and_nothing_is_sold_again(
    instance: Instance, private_redis: RedisServer, accident: str
) -> None:
    async with instance(data_backend="redis") as (app, http):
        await furnish(parts(app).storage.kv)
        assert (await http.post("/api/bookings", json=book(1))).status_code == 201
        assert (await http.post("/api/bookings", json=book(2))).status_code == 409  # taken

        if accident == "flushall":
            redis_says(private_redis, "FLUSHALL")
        else:
            private_redis.restart()  # no persistence: it comes back empty
        await furnish(parts(app).storage.kv)  # even with a catalogue put back by hand

        status, reason = await ready(http)
        assert status == 503
        assert "gone" in reason
        assert "parlour accept-store" in reason

        async def refusing() -> bool:
            return (await http.post("/api/bookings", json=book(3))).status_code == 503

        await eventually(refusing, what="the app refusing bookings into the emptied store")

        # An instance started now with an empty data directory does not take it for a fresh
        # install: the first one left a tombstone.
        async with instance("late", data_backend="redis") as (_, late):
            assert (await ready(late))[0] == 503

        # Recovery is explicit: accept what Redis holds (after a restore, or empty).
        await Durability(parts(app).storage, parts(app).settings.data_dir.parent / "ops").accept()
        assert await ready(http) == (200, "ok")
        assert (await http.post("/api/bookings", json=book(4))).status_code == 201


async def test_a_fresh_install_and_instances_that_join_are_served(
    instance: Instance, tmp_path: Path
) -> None:
    async with instance("one", data_backend="redis") as (app, http):
        assert await ready(http) == (200, "ok")
        await furnish(parts(app).storage.kv)
        epoch = (tmp_path / "one" / RECORD).read_text().strip()
    async with instance("one", data_backend="redis") as (_, again):  # a restart
        assert await ready(again) == (200, "ok")
    async with instance("two", data_backend="redis") as (_, joined):  # a new instance
        assert await ready(joined) == (200, "ok")
    assert (tmp_path / "two" / RECORD).read_text().strip() == epoch


async def test_a_store_without_markers_is_adopted_by_an_instance_without_a_record(
    instance: Instance, private_redis: RedisServer, tmp_path: Path
) -> None:
    """A deployment from before epochs, or one filled by parlour migrate or import: nothing
    says it was ever served, so nothing says it lost anything. An instance that did serve
    another store (it has a record) asks for `parlour accept-store` instead."""
    async with instance("one", data_backend="redis") as (app, http):
        await furnish(parts(app).storage.kv)
        with private_redis.client() as redis:
            markers = list(redis.scan_iter("*:epoch"))
            assert len(markers) == 7  # one in each durable namespace's slot
            redis.delete(*markers)
        assert (await ready(http))[0] == 503
    with private_redis.client() as redis:
        redis.delete(*redis.scan_iter("*:epoch"))  # the tombstones it left
    async with instance("new", data_backend="redis") as (app, http):
        assert await ready(http) == (200, "ok")
        assert (await http.get(f"/book/{MASSAGE.id}")).status_code == 200  # the data is served


def test_parlour_check_names_the_policy_and_the_loss(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "REDIS_URL": private_redis.url,
        "PARLOUR_DATA_BACKEND": "redis",
        "PARLOUR_DATA_DIR": str(tmp_path / "data"),
    }

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "parlour", "check"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    assert check().returncode == 0
    redis_says(private_redis, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    evicting = check()
    assert evicting.returncode == 1
    assert "maxmemory-policy allkeys-lru" in evicting.stdout
    redis_says(private_redis, "CONFIG", "SET", "maxmemory-policy", "noeviction")
    env["PARLOUR_DATA_BACKEND"] = "sqlite"  # sessions and limits only: a warning
    redis_says(private_redis, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    warned = check()
    assert warned.returncode == 0, warned.stdout
    assert "warning: Redis at" in warned.stdout
    redis_says(private_redis, "CONFIG", "SET", "maxmemory-policy", "noeviction")
    redis_says(private_redis, "CONFIG", "SET", "maxmemory", "1")
    full = check()
    assert full.returncode == 1
    assert "does not take writes" in full.stdout
