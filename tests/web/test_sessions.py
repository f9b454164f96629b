"""Sessions over HTTP, on memory and on real Redis: cookies, rotation, timeouts, revocation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.services.sessions import storage_key
from parlour.storage import KVStore
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.backends import params, settings_for
from support.redis_server import RedisServer
from support.web import form_token, log_in, post_form, running

ADMIN, STAFF, PASSWORD = "admin@example.com", "staff@example.com", "correct horse battery"


@dataclass
class Site:
    app: Starlette
    client: httpx.AsyncClient

    @property
    def sessions(self) -> KVStore:
        store: KVStore = parts(self.app).storage.kv("sessions")
        return store

    def browser(self) -> httpx.AsyncClient:
        """Another browser on the same site: its own cookie jar."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=str(self.client.base_url)
        )


def session_cookie(client: httpx.AsyncClient) -> str | None:
    return client.cookies.get("parlour_session")


def plant(client: httpx.AsyncClient, session_id: str) -> None:
    """Put a session cookie in a browser, as a thief with a copied cookie would."""
    client.cookies.set("parlour_session", session_id, domain="testserver.local")


@pytest.fixture(params=params(["memory", "redis"]))  # the store itself: services/test_sessions
async def site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Site]:
    if request.param == "memory":
        settings = load_settings(env_file=None, data_dir=tmp_path)
    else:  # sessions (and the data) on a shared store
        settings = settings_for(request.param, request, tmp_path, data_dir=tmp_path)
    assert settings.backend_for("sessions") == request.param
    app = create_app(settings)
    async with running(app) as client:
        await core(app).accounts.create_user(ADMIN, "admin", PASSWORD)
        await core(app).accounts.create_user(STAFF, "staff", PASSWORD)
        yield Site(app, client)


async def test_a_visitor_writes_nothing(site: Site) -> None:
    for path in ("/", "/login", "/healthz", "/no-such-page"):
        await site.client.get(path)
    assert await site.sessions.get_all_items() == {}
    assert session_cookie(site.client) is None


async def test_login_issues_a_fresh_httponly_lax_cookie(site: Site) -> None:
    plant(site.client, "A" * 43)  # an id the server never issued
    response = await log_in(site.client, STAFF, PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    header = next(h for h in response.headers.get_list("set-cookie") if "parlour_session=" in h)
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    issued = session_cookie(site.client)
    assert issued not in (None, "A" * 43)
    assert (await site.client.get("/admin")).status_code == 200


async def test_an_unknown_session_cookie_is_cleared_not_adopted(site: Site) -> None:
    plant(site.client, "B" * 43)
    response = await site.client.get("/admin")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fadmin"
    assert 'parlour_session=""' in response.headers["set-cookie"] or (
        "Max-Age=0" in response.headers["set-cookie"]
    )
    assert await site.sessions.get_all_items() == {}


async def test_login_rotates_the_id_and_logout_ends_it_on_the_server(site: Site) -> None:
    await log_in(site.client, STAFF, PASSWORD)
    first = session_cookie(site.client)
    # logging in again, as someone else (the login page redirects, so post from the staff area)
    await post_form(site.client, "/admin", "/login", email=ADMIN, password=PASSWORD)
    second = session_cookie(site.client)
    assert first != second
    stale = site.browser()
    plant(stale, first or "")
    assert (await stale.get("/admin")).status_code == 303  # the old id is gone
    response = await post_form(site.client, "/admin", "/logout")
    assert response.headers["location"] == "/login?ended=1"
    replay = site.browser()
    plant(replay, second or "")
    assert (await replay.get("/admin")).status_code == 303  # a copied cookie is dead too
    assert [k for k in await site.sessions.get_all_items() if not k.startswith("user:")] == []


async def test_an_unchanged_session_writes_nothing(site: Site) -> None:
    await log_in(site.client, STAFF, PASSWORD)
    before = await site.sessions.get_all_items()
    for _ in range(3):
        response = await site.client.get("/admin")
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
    assert await site.sessions.get_all_items() == before


async def test_log_out_everywhere_and_end_others(site: Site) -> None:
    phone, laptop, tablet = site.browser(), site.browser(), site.client
    for browser in (phone, laptop, tablet):
        await log_in(browser, STAFF, PASSWORD)
    page = await tablet.get("/admin/account")
    assert page.text.count("<tr>") == 4  # a header row and three sessions
    await post_form(tablet, "/admin/account", "/admin/account/sessions/end-others", confirmed="yes")
    assert "2 other sessions ended." in (await tablet.get("/admin/account")).text
    assert (await phone.get("/admin")).status_code == 303
    assert (await laptop.get("/admin")).status_code == 303
    assert (await tablet.get("/admin")).status_code == 200

    await log_in(phone, STAFF, PASSWORD)
    response = await post_form(
        tablet, "/admin/account", "/admin/account/sessions/end-all", confirmed="yes"
    )
    assert response.headers["location"] == "/login?ended=all"
    assert (await phone.get("/admin")).status_code == 303
    assert (await tablet.get("/admin")).status_code == 303


async def test_ending_one_listed_session(site: Site) -> None:
    other = site.browser()
    await log_in(other, STAFF, PASSWORD)
    await log_in(site.client, STAFF, PASSWORD)
    other_key = storage_key(session_cookie(other) or "")
    assert other_key in (await site.client.get("/admin/account")).text
    await post_form(
        site.client,
        "/admin/account",
        "/admin/account/sessions/end",
        session_key=other_key,
        confirmed="yes",
    )
    assert (await other.get("/admin")).status_code == 303
    assert (await site.client.get("/admin")).status_code == 200


async def test_a_password_change_rotates_this_session_and_ends_the_others(site: Site) -> None:
    other = site.browser()
    await log_in(other, STAFF, PASSWORD)
    await log_in(site.client, STAFF, PASSWORD)
    before = session_cookie(site.client)
    old_token = form_token((await site.client.get("/admin/account")).text)
    response = await post_form(
        site.client,
        "/admin/account",
        "/admin/account/password",
        current_password=PASSWORD,
        new_password="another long password",
        confirm_password="another long password",
    )
    assert response.status_code == 303
    assert session_cookie(site.client) != before
    assert (await other.get("/admin")).status_code == 303
    assert (
        "Password changed. 1 other session ended." in (await site.client.get("/admin/account")).text
    )
    # the CSRF secret rotated with the id: a token from before is refused
    stale = await site.client.post(
        "/admin/account/sessions/end-others", data={"csrf_token": old_token}
    )
    assert stale.status_code == 403
    assert (await log_in(site.browser(), STAFF, "another long password")).status_code == 303


async def test_password_change_errors_rerender_with_the_field_marked(site: Site) -> None:
    await log_in(site.client, STAFF, PASSWORD)
    response = await post_form(
        site.client,
        "/admin/account",
        "/admin/account/password",
        current_password="wrong password",
        new_password="another long password",
        confirm_password="another long password",
    )
    assert response.status_code == 400
    assert "The current password is not right." in response.text
    assert 'aria-describedby="current_password-error"' in response.text


async def test_concurrent_requests_never_write_back_a_logged_out_session(site: Site) -> None:
    await log_in(site.client, STAFF, PASSWORD)
    cookie = session_cookie(site.client)
    # Many requests in flight on one session while it logs out: none may bring it back.
    token = form_token((await site.client.get("/admin/account")).text)
    readers = [site.client.get("/admin/account") for _ in range(20)]
    logout = site.client.post("/logout", data={"csrf_token": token})
    await asyncio.gather(*readers, logout)
    replay = site.browser()
    plant(replay, cookie or "")
    assert (await replay.get("/admin")).status_code == 303
    assert [k for k in await site.sessions.get_all_items() if not k.startswith("user:")] == []


async def test_login_failures_say_the_same_and_are_limited(site: Site) -> None:
    unknown = await log_in(site.client, "nobody@example.com", PASSWORD)
    wrong = await log_in(site.client, STAFF, "not the password")
    assert unknown.status_code == wrong.status_code == 400
    message = "That e-mail address and password do not match an account."
    assert message in unknown.text
    assert message in wrong.text
    for _ in range(8):
        await log_in(site.client, STAFF, "not the password")
    limited = await log_in(site.client, STAFF, PASSWORD)  # ten failures: even the right one waits
    assert limited.status_code == 429
    assert "Too many attempts" in limited.text


async def test_a_successful_login_does_not_count_as_a_failure(site: Site) -> None:
    for _ in range(12):  # more than the ten failures allowed, from one address
        assert (await log_in(site.browser(), STAFF, PASSWORD)).status_code == 303


async def test_staff_cannot_use_admin_pages(site: Site) -> None:
    await log_in(site.client, STAFF, PASSWORD)
    assert (await site.client.get("/admin/users")).status_code == 403
    assert (await site.client.get("/admin/ratelimits")).status_code == 403


async def test_an_admin_manages_accounts_and_their_sessions(site: Site) -> None:
    staff = site.browser()
    await log_in(staff, STAFF, PASSWORD)
    await log_in(site.client, ADMIN, PASSWORD)
    created = await post_form(
        site.client,
        "/admin/users",
        "/admin/users",
        email="new@example.com",
        role="staff",
        password="a first password",
    )
    assert created.status_code == 303
    assert "Account created for new@example.com." in (await site.client.get("/admin/users")).text
    await post_form(
        site.client, "/admin/users", "/admin/users/end-sessions", email=STAFF, confirmed="yes"
    )
    assert (await staff.get("/admin")).status_code == 303
    await log_in(staff, STAFF, PASSWORD)
    await post_form(site.client, "/admin/users", "/admin/users/role", email=STAFF, role="admin")
    assert (await staff.get("/admin")).status_code == 303  # a role change ends their sessions
    await log_in(staff, STAFF, PASSWORD)
    assert (await staff.get("/admin/users")).status_code == 200  # and the new role applies


async def test_redis_down_fails_session_pages_fast_and_keeps_public_pages(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path, redis_url=private_redis.url)
    app = create_app(settings)
    async with running(app) as client:
        await core(app).accounts.create_user(STAFF, "staff", PASSWORD)
        await log_in(client, STAFF, PASSWORD)
        private_redis.stop()
        async with asyncio.timeout(3):
            admin = await client.get("/admin")
            home = await client.get("/")
            stylesheet = await client.get("/static/parlour.css")
        assert admin.status_code == 503
        assert "try again in a moment" in admin.text
        assert home.status_code == 200  # the session cookie is there, but the page needs none
        assert stylesheet.status_code == 200
        private_redis.start()  # an empty Redis: the session is gone, the app works again
        assert (await client.get("/admin")).status_code == 303
        assert (await log_in(client, STAFF, PASSWORD)).status_code == 303
        assert (await client.get("/admin")).status_code == 200


@pytest.mark.parametrize("shared", params(["redis", "postgres"]))
async def test_two_instances_share_logins_and_csrf_tokens(
    shared: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On Redis, or on PostgreSQL alone (sessions and limits follow the data there)."""
    store = settings_for(shared, request, tmp_path).model_dump(
        include={"redis_url", "database_url"}
    )

    def instance(name: str) -> Starlette:
        settings = load_settings(
            env_file=None,
            data_dir=tmp_path / name,
            data_backend=shared,
            secret_key="shared secret for both instances, long",
            **store,
        )
        assert settings.backend_for("sessions") == shared
        return create_app(settings)

    one, two = instance("one"), instance("two")
    async with running(one) as first, running(two) as second:
        await core(one).accounts.create_user(STAFF, "staff", PASSWORD)
        assert (await log_in(first, STAFF, PASSWORD)).status_code == 303
        second.cookies.update(first.cookies)
        page = await second.get("/admin/account")
        assert page.status_code == 200  # logged in on one, recognised on two
        token_from_one = form_token((await first.get("/admin/account")).text)
        ended = await second.post(
            "/admin/account/sessions/end-others",
            data={"csrf_token": token_from_one, "confirmed": "yes"},
        )
        assert ended.status_code == 303  # a token rendered by one is accepted by two
        out = await second.post("/logout", data={"csrf_token": form_token(page.text)})
        assert out.status_code == 303
        assert (await first.get("/admin")).status_code == 303  # logged out on two: out on one
