"""A salon in every session and limit: staff belong to their salon, a session is worthless at
another salon's host, each salon's limits are its own, and one address is held across all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.runtime import Runtime
from parlour.web.app import create_app
from parlour.web.parts import parts

from support.salon import MASSAGE, ask, at, furnish, upcoming_weekday
from support.salon import client as client_details
from support.web import EventStream, log_in, running, with_attempt_route

DOMAIN = "salons.test"
EMAIL = "sam@example.com"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[tuple[Starlette, Runtime]]:
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path,
        tenancy="multi",
        platform_domain=DOMAIN,
        booking_rate_limit="3/15 minutes",
        platform_rate_limit="5/1 minute",
    )
    app = with_attempt_route(create_app(settings))
    async with running(app):
        runtime = parts(app).runtime
        assert runtime.tenants is not None
        assert runtime.salons is not None
        for slug in ("maya", "jonah"):
            salon = await runtime.tenants.create(slug, slug.title(), f"owner@{slug}.test")
            await furnish(runtime.storage.salon(salon.space).kv)
            services = runtime.salons.services(salon)
            await services.core.accounts.create_user(EMAIL, "admin", f"{slug} password 123")
        yield app, runtime


def client(app: Starlette, slug: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://{slug}.{DOMAIN}"
    )


async def test_one_address_is_staff_at_two_salons_with_two_passwords(
    platform: tuple[Starlette, Runtime],
) -> None:
    app, _ = platform
    async with client(app, "maya") as maya:
        refused = await log_in(maya, EMAIL, "jonah password 123")
        assert refused.status_code != 303
        assert (await log_in(maya, EMAIL, "maya password 123")).status_code == 303
        assert (await maya.get("/admin")).status_code == 200


async def test_a_session_of_one_salon_is_worthless_at_another(
    platform: tuple[Starlette, Runtime],
) -> None:
    app, _ = platform
    async with client(app, "maya") as maya:
        assert (await log_in(maya, EMAIL, "maya password 123")).status_code == 303
        cookies = "; ".join(f"{name}={value}" for name, value in maya.cookies.items())
    async with client(app, "jonah") as jonah:
        answer = await jonah.get("/admin", headers={"cookie": cookies})
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")


async def test_each_salon_counts_its_own_limits(platform: tuple[Starlette, Runtime]) -> None:
    app, _ = platform
    form = {"email": "zoe@example.com"}
    async with client(app, "maya") as maya, client(app, "jonah") as jonah:
        at_maya = [(await maya.post("/attempt", data=form)).status_code for _ in range(4)]
        assert at_maya == [200, 200, 200, 429]
        assert (await jonah.post("/attempt", data=form)).status_code == 200


async def test_one_address_is_held_across_every_salon(platform: tuple[Starlette, Runtime]) -> None:
    app, _ = platform
    async with client(app, "maya") as maya, client(app, "jonah") as jonah:
        answers = []
        for number in range(6):  # each salon's own limit (3) is never reached
            salon = maya if number % 2 else jonah
            form = {"email": f"guest{number}@example.com"}
            answers.append((await salon.post("/attempt", data=form)).status_code)
    assert answers == [200, 200, 200, 200, 200, 429]


async def test_the_desks_live_view_hears_its_own_salon_only(
    platform: tuple[Starlette, Runtime],
) -> None:
    app, runtime = platform
    assert runtime.tenants is not None
    assert runtime.salons is not None
    maya = runtime.salons.services(await runtime.tenants.require("maya"))
    jonah = runtime.salons.services(await runtime.tenants.require("jonah"))
    async with client(app, "maya") as desk:
        assert (await log_in(desk, EMAIL, "maya password 123")).status_code == 303
        host = f"maya.{DOMAIN}"
        async with EventStream(app, "/admin/events", desk.cookies, host) as stream:
            assert stream.status == 200
            assert await stream.next_event() == "hello"
            day = upcoming_weekday()
            booking = {"treatment": MASSAGE.id, "start": at(10, day=day), **client_details()}
            # Jonah's first: if the feed let it through, it would be heard before Maya's.
            await jonah.core.bookings.book(ask(booking))
            mine = await maya.core.bookings.book(ask({**booking, "start": at(11, day=day)}))
            assert await stream.next_event(timeout=5) == "booking"
            assert stream.last_data == {"id": mine.booking.id}


async def test_the_delivery_worker_reads_each_salons_own_business(tmp_path: Path) -> None:
    """A reminder goes with the business details of its own salon as they are now (the worker
    reads them through the composition root's ``business_of``): never another salon's."""
    for tenancy in ("single", "multi"):
        settings = load_settings(
            env_file=None, data_dir=tmp_path / tenancy, tenancy=tenancy, platform_domain=DOMAIN
        )
        runtime = Runtime.from_settings(settings)
        async with runtime.opened():
            business_of = runtime.delivery.business_of
            assert business_of is not None
            if runtime.tenants is None:
                await furnish(runtime.storage.salon(None).kv, address="1 Only Lane")
                outbox = runtime.home.core.outboxes.of("bookings")
                assert (await business_of(outbox)).address == "1 Only Lane"
                continue
            assert runtime.salons is not None
            for slug in ("maya", "jonah"):
                salon = await runtime.tenants.create(slug, slug.title(), f"owner@{slug}.test")
                await furnish(runtime.storage.salon(salon.space).kv, address=f"1 {slug} Street")
            for slug in ("maya", "jonah"):
                salon = await runtime.tenants.require(slug)
                for outbox in runtime.salons.outboxes(salon):
                    assert (await business_of(outbox)).address == f"1 {slug} Street"
