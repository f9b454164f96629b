"""Many salons on one deployment: the Host header names the salon before anything else runs;
an unknown host is nobody's; a suspended salon takes no bookings and loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.errors import NoSalonInScope
from parlour.runtime import Runtime
from parlour.services.tenants import Status, Tenants
from parlour.storage import Storage
from parlour.web.app import create_app
from parlour.web.parts import parts

from support.redis_server import RedisServer
from support.salon import furnish
from support.web import running

DOMAIN = "salons.test"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[tuple[Starlette, Runtime]]:
    settings = load_settings(
        env_file=None, data_dir=tmp_path, tenancy="multi", platform_domain=DOMAIN
    )
    app = create_app(settings)
    async with running(app):
        runtime = parts(app).runtime
        assert runtime.tenants is not None
        assert runtime.salons is not None
        for slug, name in (("maya", "Maya's Rooms"), ("jonah", "Jonah & Co")):
            salon = await runtime.tenants.create(slug, name, f"owner@{slug}.test")
            catalogue = await furnish(runtime.storage.salon(salon.space).kv, phone="01225 555 0100")
            await catalogue.put_business(replace(await catalogue.business(), name=name))
        yield app, runtime


def client(app: Starlette, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


async def test_each_salon_is_served_at_its_own_host(
    platform: tuple[Starlette, Runtime],
) -> None:
    app, _ = platform
    async with client(app, f"maya.{DOMAIN}") as maya, client(app, f"jonah.{DOMAIN}") as jonah:
        maya_home, jonah_home = (await maya.get("/")).text, (await jonah.get("/")).text
    assert "Maya&#39;s Rooms" in maya_home
    assert "Jonah" not in maya_home
    assert "Jonah &amp; Co" in jonah_home
    assert "Maya" not in jonah_home


@pytest.mark.parametrize("host", ["nobody.salons.test", "a.maya.salons.test", "evil.example"])
async def test_a_host_that_is_no_salon_gets_404_never_another_salon(
    platform: tuple[Starlette, Runtime], host: str
) -> None:
    app, _ = platform
    async with client(app, host) as visitor:
        for path in ("/", "/login", "/admin", "/api/treatments", "/book"):
            answer = await visitor.get(path)
            assert answer.status_code == 404, path
            assert "Maya" not in answer.text
            assert "Jonah" not in answer.text


async def test_the_bare_domain_is_the_platform_not_a_salon(
    platform: tuple[Starlette, Runtime],
) -> None:
    app, _ = platform
    async with client(app, DOMAIN) as visitor:
        home = await visitor.get("/")
        assert home.status_code == 200
        assert "Open your salon" in home.text
        assert (await visitor.get("/book")).status_code == 404


async def test_a_suspended_salon_takes_no_bookings_and_loses_nothing(
    platform: tuple[Starlette, Runtime],
) -> None:
    app, runtime = platform
    assert runtime.tenants is not None
    await runtime.tenants.set_status("maya", Status.SUSPENDED)
    async with client(app, f"maya.{DOMAIN}") as maya, client(app, f"jonah.{DOMAIN}") as jonah:
        for path in ("/", "/book", "/login", "/admin"):
            answer = await maya.get(path)
            assert answer.status_code == 503, path
            assert "not taking bookings" in answer.text, path
            # "contact the salon directly" says how: the salon's own details
            assert '<a href="tel:012255550100">01225 555 0100</a>' in answer.text, path
        assert (await jonah.get("/")).status_code == 200
        await runtime.tenants.set_status("maya", Status.ACTIVE)
        assert "Maya&#39;s Rooms" in (await maya.get("/")).text


async def test_no_salon_in_scope_is_an_error_not_a_default(
    platform: tuple[Starlette, Runtime],
) -> None:
    _, runtime = platform
    with pytest.raises(NoSalonInScope):
        runtime.storage.kv("bookings")
    with pytest.raises(NoSalonInScope):
        runtime.storage.salon("maya").kv("tenants")


async def test_custom_domains_serve_their_salon_only(platform: tuple[Starlette, Runtime]) -> None:
    app, runtime = platform
    assert runtime.tenants is not None
    await runtime.tenants.add_host("maya", "book.mayas-rooms.test")
    async with client(app, "book.mayas-rooms.test") as visitor:
        assert "Maya&#39;s Rooms" in (await visitor.get("/")).text
    await runtime.tenants.remove_host("maya", "book.mayas-rooms.test")
    async with client(app, "book.mayas-rooms.test") as visitor:
        assert (await visitor.get("/")).status_code == 404


@pytest.mark.redis
async def test_a_hundred_lookups_of_one_salon_at_once_read_the_store_once(
    redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    # A process just started, met by a hundred requests for one salon, asked Redis a hundred
    # times at once, and on a loaded Cluster some outlasted the deadline: 503s on healthy servers.
    settings = load_settings(
        env_file=None, data_dir=tmp_path, redis_url=redis_url, data_backend="redis"
    )
    async with Storage.from_settings(settings) as storage:
        writer = Tenants(storage.kv("tenants"), DOMAIN)
        await writer.create("maya", "Maya's Rooms", "owner@maya.test")
        cold = Tenants(storage.kv("tenants"), DOMAIN)  # another process: nothing read yet
        with redis_server.client() as raw:
            raw.config_resetstat()
            found = await asyncio.gather(*(cold.resolve(f"maya.{DOMAIN}") for _ in range(100)))
            reads = int(raw.info("commandstats").get("cmdstat_get", {}).get("calls", 0))
    assert {getattr(salon, "slug", None) for salon in found} == {"maya"}
    assert reads == 1
