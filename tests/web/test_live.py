"""Live updates and per-instance caches across instances sharing one store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import Settings, load_settings
from parlour.domain.catalogue import Treatment
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.redis_server import RedisServer
from support.salon import MASSAGE, ask, at, client, furnish, upcoming_weekday
from support.waiting import eventually
from support.web import EventStream, log_in, running

PASSWORD = "correct horse battery"


def twin_settings(tmp_path: Path, redis_url: str | None) -> Settings:
    return load_settings(
        env_file=None,
        data_dir=tmp_path,
        redis_url=redis_url,
        data_backend="redis" if redis_url else "sqlite",
        secret_key="a secret both instances share, long enough",
    )


@dataclass
class Twins:
    one: Starlette
    two: Starlette
    desk: httpx.AsyncClient
    """A browser on instance one."""


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def twins(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Twins]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    one, two = create_app(twin_settings(tmp_path, url)), create_app(twin_settings(tmp_path, url))
    async with running(one) as desk, running(two):
        await furnish(parts(one).storage.kv)
        await core(one).accounts.create_user("staff@example.com", "staff", PASSWORD)
        yield Twins(one, two, desk)


async def test_a_booking_on_one_instance_reaches_the_other_desk(twins: Twins) -> None:
    await log_in(twins.desk, "staff@example.com", PASSWORD)
    async with EventStream(twins.one, "/admin/events", twins.desk.cookies) as stream:
        assert stream.status == 200
        assert await stream.next_event() == "hello"
        booking = {"treatment": MASSAGE.id, "start": at(10, day=upcoming_weekday()), **client()}
        await core(twins.two).bookings.book(ask(booking))
        assert await stream.next_event(timeout=5) == "booking"


async def test_the_stream_needs_a_login(twins: Twins) -> None:
    assert (await twins.desk.get("/admin/events")).status_code == 303


async def test_a_catalogue_change_on_one_instance_reaches_the_others_cache(twins: Twins) -> None:
    one, two = twins.one, twins.two
    assert (await core(one).catalogue.treatment(MASSAGE.id)).price == MASSAGE.price  # cached now
    await core(two).catalogue.save_treatment(
        {"name": "Massage", "duration": "30", "price": "99", "active": "on"}, ["r_ann"], MASSAGE.id
    )
    assert (await core(two).catalogue.treatment(MASSAGE.id)).price == 9900  # its own write

    async def seen_by_one() -> bool:
        treatment: Treatment = await core(one).catalogue.treatment(MASSAGE.id)
        return treatment.price == 9900

    await eventually(seen_by_one, timeout=5, what="the other instance forgetting the old price")


@pytest.mark.redis
async def test_a_lost_redis_connection_tells_the_desk_to_resync(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    app = create_app(twin_settings(tmp_path, private_redis.url))
    async with running(app) as desk:
        await core(app).accounts.create_user("staff@example.com", "staff", PASSWORD)
        await log_in(desk, "staff@example.com", PASSWORD)
        async with EventStream(app, "/admin/events", desk.cookies) as stream:
            assert await stream.next_event() == "hello"
            private_redis.restart()
            assert await stream.next_event(timeout=15) == "resync"
