"""The limiter over HTTP: 429s that say when, RateLimit headers, identities, outage policy."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from parlour.config import Settings, load_settings
from parlour.services.ratelimit import Identity
from parlour.web.app import create_app
from parlour.web.parts import core, parts
from parlour.web.ratelimit import enforce

from support.redis_server import RedisServer
from support.web import log_in, post_form, running, with_attempt_route

JSON = {"accept": "application/json"}


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(with_attempt_route(create_app(settings))) as client:
        yield client


async def test_three_per_window_then_429_with_headers(client: httpx.AsyncClient) -> None:
    answers = [
        await client.post("/attempt", data={"email": "zoe@example.com"}, headers=JSON)
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit"] for a in answers[:3]] == [
        '"booking";r=2;t=900',
        '"booking";r=1;t=900',
        '"booking";r=0;t=900',
    ]
    assert all(a.headers["RateLimit-Policy"] == '"booking";q=3;w=900' for a in answers)
    refused = answers[3]
    assert refused.headers["Retry-After"] == "900"
    assert refused.headers["RateLimit"] == '"booking";r=0;t=900'
    assert refused.json() == {
        "error": "rate_limited",
        "message": "Too many attempts just now. Please try again in 15 minutes.",
        "retry_after": 900,
    }


async def test_a_browser_gets_a_page_that_says_when(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.post("/attempt", data={"email": "zoe@example.com"})
    page = await client.post(
        "/attempt", data={"email": "zoe@example.com"}, headers={"accept": "text/html"}
    )
    assert page.status_code == 429
    assert page.headers["content-type"].startswith("text/html")
    assert "Too many attempts" in page.text
    assert "try again in 15 minutes" in page.text


async def test_the_email_is_normalised(client: httpx.AsyncClient) -> None:
    for written in ("Zoe@Example.com", " zoe@example.com ", "ZOE@EXAMPLE.COM"):
        assert (await client.post("/attempt", data={"email": written})).status_code == 200
    assert (await client.post("/attempt", data={"email": "zoe@example.com"})).status_code == 429


async def test_the_ip_limit_holds_across_emails(client: httpx.AsyncClient) -> None:
    for n in range(3):
        assert (
            await client.post("/attempt", data={"email": f"c{n}@example.com"})
        ).status_code == 200
    assert (await client.post("/attempt", data={"email": "c9@example.com"})).status_code == 429


async def test_forwarded_for_counts_only_from_trusted_proxies(tmp_path: Path) -> None:
    trusting = load_settings(env_file=None, data_dir=tmp_path, trusted_proxies="127.0.0.1")
    async with running(with_attempt_route(create_app(trusting))) as client:
        for n in range(4):  # four clients behind the proxy, each its own IP
            response = await client.post(
                "/attempt",
                data={"email": f"c{n}@example.com"},
                headers={"x-forwarded-for": f"198.51.100.{n}"},
            )
            assert response.status_code == 200
    untrusting = load_settings(env_file=None, data_dir=tmp_path / "other")
    async with running(with_attempt_route(create_app(untrusting))) as client:
        statuses = [
            (
                await client.post(
                    "/attempt",
                    data={"email": f"c{n}@example.com"},
                    headers={"x-forwarded-for": f"198.51.100.{n}"},
                )
            ).status_code
            for n in range(4)
        ]
        assert statuses == [200, 200, 200, 429]  # a header anyone can write counts for nothing


def test_identities_are_private_and_grouped() -> None:
    secret = b"s" * 32
    key = Identity.email("Zoe@Example.com").key(secret)
    assert "zoe" not in key.lower()
    assert re.fullmatch(r"email:[0-9a-f]{32}", key)
    assert key != Identity.email("zoe@example.com").key(b"t" * 32)
    assert Identity.ip("2001:db8:1:2:aaaa::1") == Identity.ip("2001:db8:1:2:bbbb::2")
    assert Identity.ip("2001:db8:1:3::1") != Identity.ip("2001:db8:1:2::1")
    assert Identity.ip("::ffff:192.0.2.1") == Identity.ip("192.0.2.1")


@pytest.mark.redis
async def test_outage_booking_fails_open_and_login_fails_closed(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    settings = load_settings(env_file=None, redis_url=private_redis.url, data_dir=tmp_path)
    app = create_app(settings)
    with_attempt_route(app, "booking")

    async def login_attempt(request: Request) -> JSONResponse:
        await enforce(request, "login", Identity.account("u1"))
        return JSONResponse({"ok": True})

    app.router.routes.insert(0, Route("/login-attempt", login_attempt, methods=["POST"]))
    async with running(app) as client:
        private_redis.stop()
        booking = await client.post("/attempt", data={"email": "z@example.com"}, headers=JSON)
        login = await client.post("/login-attempt", headers=JSON)
        assert booking.status_code == 200
        assert "RateLimit" not in booking.headers  # no window was consulted, so none is claimed
        assert parts(app).limiter.outages["booking"] == 1
        assert login.status_code == 503
        assert login.json()["error"] == "unavailable"
        private_redis.start()  # and back: decisions are made again, no restart needed
        assert (
            (await client.post("/login-attempt", headers=JSON))
            .headers["RateLimit"]
            .startswith('"login";r=9')
        )


async def test_an_admin_sees_and_clears_a_clients_window(tmp_path: Path) -> None:
    app = with_attempt_route(create_app(load_settings(env_file=None, data_dir=tmp_path)))
    async with running(app) as admin:
        await core(app).accounts.create_user("admin@example.com", "admin", "correct horse battery")
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        for _ in range(3):
            await client.post("/attempt", data={"email": "zoe@example.com"})
        assert (await client.post("/attempt", data={"email": "zoe@example.com"})).status_code == 429

        await log_in(admin, "admin@example.com", "correct horse battery")
        page = await admin.get("/admin/ratelimits", params={"email": "Zoe@Example.com"})
        assert "booking, this e-mail address (3/15 minutes)" in page.text
        assert "blocked for 15 minutes" in page.text
        await post_form(
            admin,
            "/admin/ratelimits?email=zoe@example.com",
            "/admin/ratelimits/clear",
            email="zoe@example.com",
            confirmed="yes",
        )
        await post_form(
            admin,
            "/admin/ratelimits?ip=127.0.0.1",
            "/admin/ratelimits/clear",
            ip="127.0.0.1",
            confirmed="yes",
        )
        assert (await client.post("/attempt", data={"email": "zoe@example.com"})).status_code == 200
