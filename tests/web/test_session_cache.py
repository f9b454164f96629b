"""Each instance's copy of recent sessions: no round trip for an unchanged session, revocation on
one instance refused by every other, and no copy used while the change feed is down.

Two apps over one Redis stand for two instances. A revocation is waited for with ``eventually``:
the other instance learns of it when the change event arrives (bench/revocation.py measures how
soon); before it, the tests check that the other instance was answering from its copy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.services.cache import ItemCache
from parlour.services.sessions import SessionRecord, storage_key
from parlour.storage.redis import RedisBackend
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.redis_server import RedisServer
from support.waiting import eventually, until
from support.web import log_in, post_form, running

pytestmark = pytest.mark.redis

ADMIN, STAFF, PASSWORD = "admin@example.com", "staff@example.com", "correct horse battery"
NEW_PASSWORD = "another long password"


def cache_of(app: Starlette) -> ItemCache[SessionRecord]:
    cache = parts(app).sessions.cache
    assert cache is not None
    return cache


def commands(raw: redis.Redis) -> dict[str, int]:
    stats = raw.info("commandstats")
    return {name: int(row["calls"]) for name, row in stats.items() if "config" not in name}


@dataclass
class Instance:
    app: Starlette
    client: httpx.AsyncClient

    def browser(self, cookies: httpx.Cookies | None = None) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )
        if cookies is not None:
            client.cookies.update(cookies)
        return client

    async def serves_from_memory(self, client: httpx.AsyncClient) -> None:
        """Answer ``client`` until its session is in this instance's copy (a load that an
        earlier event overtook is not kept), then once more from it."""
        key = storage_key(client.cookies["parlour_session"])
        cache = cache_of(self.app)

        async def cached() -> bool:
            assert (await client.get("/admin")).status_code == 200
            return key in cache

        await eventually(cached, what="the session kept in memory")
        hits = cache.hits
        assert (await client.get("/admin")).status_code == 200
        assert cache.hits == hits + 1


@asynccontextmanager
async def instances(redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Instance, Instance]]:
    def app(name: str) -> Starlette:
        settings = load_settings(
            env_file=None,
            data_dir=tmp_path / name,
            redis_url=redis_url,
            data_backend="redis",
            secret_key="shared secret for both instances, long",
        )
        return create_app(settings)

    one, two = app("one"), app("two")
    async with running(one) as first, running(two) as second:
        await core(one).accounts.create_user(ADMIN, "admin", PASSWORD)
        await core(one).accounts.create_user(STAFF, "staff", PASSWORD)
        await until(lambda: cache_of(one).live and cache_of(two).live, what="both feeds live")
        yield Instance(one, first), Instance(two, second)


async def test_an_unchanged_session_costs_no_round_trip(
    redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    async with instances(redis_url, tmp_path) as (one, _):
        await log_in(one.client, STAFF, PASSWORD)
        await one.serves_from_memory(one.client)
        with redis_server.client() as raw:
            raw.config_resetstat()
            for _ in range(3):
                assert (await one.client.get("/admin")).status_code == 200
            assert commands(raw) == {}  # not even the one GETEX a request used to cost


Revoke = Callable[[Instance, httpx.AsyncClient], Awaitable[None]]


async def logout(two: Instance, victim: httpx.AsyncClient) -> None:
    same = two.browser(victim.cookies)  # the same browser, its next request on instance two
    assert (await post_form(same, "/admin/account", "/logout")).status_code == 303


async def end_listed(two: Instance, victim: httpx.AsyncClient) -> None:
    other = two.browser()
    await log_in(other, STAFF, PASSWORD)
    key = storage_key(victim.cookies["parlour_session"])
    await post_form(
        other, "/admin/account", "/admin/account/sessions/end", session_key=key, confirmed="yes"
    )


async def end_others(two: Instance, victim: httpx.AsyncClient) -> None:
    other = two.browser()
    await log_in(other, STAFF, PASSWORD)
    await post_form(other, "/admin/account", "/admin/account/sessions/end-others", confirmed="yes")
    assert (await other.get("/admin")).status_code == 200


async def end_all(two: Instance, victim: httpx.AsyncClient) -> None:
    other = two.browser()
    await log_in(other, STAFF, PASSWORD)
    await post_form(other, "/admin/account", "/admin/account/sessions/end-all", confirmed="yes")


async def change_password(two: Instance, victim: httpx.AsyncClient) -> None:
    other = two.browser()
    await log_in(other, STAFF, PASSWORD)
    changed = await post_form(
        other,
        "/admin/account",
        "/admin/account/password",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        confirm_password=NEW_PASSWORD,
    )
    assert changed.status_code == 303


async def change_role(two: Instance, victim: httpx.AsyncClient) -> None:
    admin = two.browser()
    await log_in(admin, ADMIN, PASSWORD)
    await post_form(admin, "/admin/users", "/admin/users/role", email=STAFF, role="admin")


async def admin_ends_sessions(two: Instance, victim: httpx.AsyncClient) -> None:
    admin = two.browser()
    await log_in(admin, ADMIN, PASSWORD)
    await post_form(
        admin, "/admin/users", "/admin/users/end-sessions", email=STAFF, confirmed="yes"
    )


@pytest.mark.parametrize(
    "revoke",
    [logout, end_listed, end_others, end_all, change_password, change_role, admin_ends_sessions],
    ids=lambda revoke: revoke.__name__,
)
async def test_a_revocation_on_one_instance_ends_the_copy_on_the_other(
    revoke: Revoke, redis_url: str, tmp_path: Path
) -> None:
    async with instances(redis_url, tmp_path) as (one, two):
        victim = one.client
        await log_in(victim, STAFF, PASSWORD)
        await one.serves_from_memory(victim)
        await revoke(two, victim)

        async def refused() -> bool:
            return (await victim.get("/admin")).status_code == 303

        await eventually(refused, what="the revoked session refused by the other instance")
        assert storage_key(victim.cookies.get("parlour_session") or "") not in cache_of(one.app)


async def test_while_the_feed_is_down_no_copy_is_used(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    async with instances(private_redis.url, tmp_path) as (one, _):
        await log_in(one.client, STAFF, PASSWORD)
        await one.serves_from_memory(one.client)
        private_redis.stop()
        await until(lambda: not cache_of(one.app).live, what="the feed known to be lost")
        # The copy would answer 200; with the store down, the honest answer is 503.
        assert (await one.client.get("/admin")).status_code == 503
        assert len(cache_of(one.app)) == 0
        private_redis.start()  # an empty Redis: the session is gone, and so is every copy
        await until(lambda: cache_of(one.app).live, what="the feed back")
        assert (await one.client.get("/admin")).status_code == 303


async def test_a_resubscribed_feed_drops_every_copy(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    async with instances(private_redis.url, tmp_path) as (one, _):
        await log_in(one.client, STAFF, PASSWORD)
        await one.serves_from_memory(one.client)
        backend = parts(one.app).storage.kv("sessions").backend
        assert isinstance(backend, RedisBackend)
        with private_redis.client() as raw:
            raw.client_kill_filter(_type="pubsub")  # events published now may be missed
        await until(lambda: backend.reconnects >= 1, what="the feed resubscribed")
        key = storage_key(one.client.cookies["parlour_session"])
        assert cache_of(one.app).live
        assert key not in cache_of(one.app)  # dropped at once, before its RESYNC is read
