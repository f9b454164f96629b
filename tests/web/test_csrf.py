"""CSRF: tokens per session and per anonymous form, origins, and what a refusal says."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.web import csrf
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.web import form_token, log_in, page_routes, running

STAFF, PASSWORD = "staff@example.com", "correct horse battery"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app):
        await core(app).accounts.create_user(STAFF, "staff", PASSWORD)
        yield app


def browser(app: Starlette, base: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


async def logged_in(app: Starlette) -> tuple[httpx.AsyncClient, str]:
    client = browser(app)
    await log_in(client, STAFF, PASSWORD)
    return client, form_token((await client.get("/admin/account")).text)


async def test_a_session_needs_its_token_on_every_unsafe_request(app: Starlette) -> None:
    client, token = await logged_in(app)
    missing = await client.post(
        "/admin/account/sessions/end-others", headers={"accept": "text/html"}
    )
    assert missing.status_code == 403
    assert "Reload the page and try again." in missing.text
    assert "Reload the page</a>" in missing.text
    assert (
        await client.post("/admin/account/sessions/end-others", data={"csrf_token": "x"})
    ).status_code == 403
    ok = await client.post(
        "/admin/account/sessions/end-others", data={"csrf_token": token, "confirmed": "yes"}
    )
    assert ok.status_code == 303


async def test_a_token_from_another_session_is_refused(app: Starlette) -> None:
    mine, _ = await logged_in(app)
    _, theirs = await logged_in(app)
    response = await mine.post(
        "/admin/account/sessions/end-others", data={"csrf_token": theirs, "confirmed": "yes"}
    )
    assert response.status_code == 403


async def test_tokens_are_masked_differently_on_each_render_and_all_work(app: Starlette) -> None:
    client, first = await logged_in(app)
    second = form_token((await client.get("/admin/account")).text)
    assert first != second
    for token in (first, second):
        response = await client.post(
            "/admin/account/sessions/end-others", data={"csrf_token": token, "confirmed": "yes"}
        )
        assert response.status_code == 303


async def test_json_clients_send_the_token_in_a_header(app: Starlette) -> None:
    client, token = await logged_in(app)
    refused = await client.post("/logout", headers={"accept": "application/json"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf"
    accepted = await client.post("/logout", headers={"x-csrf-token": token})
    assert accepted.status_code == 303


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"sec-fetch-site": "cross-site"}, False),
        ({"origin": "https://evil.example"}, False),
        ({"origin": "null"}, False),
        ({"referer": "https://evil.example/page"}, False),
        ({"origin": "http://testserver"}, True),
        ({"sec-fetch-site": "same-origin", "origin": "http://testserver"}, True),
        ({"referer": "http://testserver/admin/account"}, True),
    ],
    ids=[
        "cross-site",
        "foreign-origin",
        "null-origin",
        "foreign-referer",
        "own-origin",
        "same-origin",
        "own-referer",
    ],
)
async def test_origin_checks(app: Starlette, headers: dict[str, str], allowed: bool) -> None:
    client, token = await logged_in(app)
    response = await client.post(
        "/admin/account/sessions/end-others",
        data={"csrf_token": token, "confirmed": "yes"},
        headers=headers,
    )
    assert response.status_code == (303 if allowed else 403)


async def test_a_request_without_cookies_needs_no_token(app: Starlette) -> None:
    response = await browser(app).post(
        "/login", data={"email": STAFF, "password": "wrong password"}
    )
    assert response.status_code == 400  # judged on its content, not refused as forged


async def test_cross_site_posts_are_refused_even_without_cookies(app: Starlette) -> None:
    response = await browser(app).post(
        "/login",
        data={"email": STAFF, "password": PASSWORD},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403  # no login CSRF: the attacker's account is not signed in


async def test_an_anonymous_form_is_protected_without_storing_anything(app: Starlette) -> None:
    visitor = browser(app)
    page = await visitor.get("/login")
    assert "parlour_csrf" in page.headers["set-cookie"]
    assert await parts(app).storage.kv("sessions").get_all_items() == {}
    token = form_token(page.text)
    refused = await visitor.post("/login", data={"email": STAFF, "password": PASSWORD})
    assert refused.status_code == 403  # it has the cookie, so it must have the token
    accepted = await visitor.post(
        "/login", data={"email": STAFF, "password": PASSWORD, "csrf_token": token}
    )
    assert accepted.status_code == 303


async def test_a_forged_anonymous_cookie_is_refused(app: Starlette) -> None:
    visitor = browser(app)
    token = form_token((await visitor.get("/login")).text)
    nonce = visitor.cookies["parlour_csrf"].split(".")[0]
    visitor.cookies.set("parlour_csrf", f"{nonce}.forged-signature", domain="testserver.local")
    response = await visitor.post(
        "/login", data={"email": STAFF, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 403


async def test_https_origin_gives_host_prefixed_secure_cookies(tmp_path: Path) -> None:
    settings = load_settings(
        env_file=None, data_dir=tmp_path, public_origin="https://book.example.com"
    )
    app = create_app(settings)
    async with running(app):
        await core(app).accounts.create_user(STAFF, "staff", PASSWORD)
        client = browser(app, "https://book.example.com")
        page = await client.get("/login")
        assert page.headers["set-cookie"].startswith("__Host-parlour_csrf=")
        response = await log_in(client, STAFF, PASSWORD)
        session = next(h for h in response.headers.get_list("set-cookie") if "session" in h)
        assert session.startswith("__Host-parlour_session=")
        assert "; Secure" in session
        assert "Domain" not in session
        assert (await client.get("/admin")).status_code == 200


@given(st.text(max_size=300))
def test_unmasking_never_fails_on_garbage(token: str) -> None:
    result = csrf.unmask(token)
    assert result is None or len(result) == 32


@given(st.binary(min_size=32, max_size=32))
def test_mask_and_unmask_round_trip(secret: bytes) -> None:
    encoded = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    assert csrf.unmask(csrf.mask(encoded)) == secret


async def test_every_unsafe_route_refuses_a_request_without_a_token(app: Starlette) -> None:
    admin = browser(app)
    await core(app).accounts.create_user("admin@example.com", "admin", PASSWORD)
    await log_in(admin, "admin@example.com", PASSWORD)
    unsafe = [
        path
        for path, route in page_routes(app.routes)
        if route.methods and route.methods & csrf.UNSAFE
    ]
    assert "/login" in unsafe
    assert len(unsafe) >= 10
    for path in unsafe:
        response = await admin.post(path, data={"email": "x@example.com"})
        assert response.status_code == 403, f"{path} accepted a request without a CSRF token"


async def test_an_oversized_body_is_refused_before_it_is_read(app: Starlette) -> None:
    response = await browser(app).post(
        "/login",
        content=b"email=" + b"x" * (2 * 1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded", "accept": "text/html"},
    )
    assert response.status_code == 413
    assert "too large" in response.text.lower()
