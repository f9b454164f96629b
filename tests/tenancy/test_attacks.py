"""Attacks between salons of one deployment: what salon A's host hands out (cookies, tokens,
signed values) must be worthless at salon B's, and nothing B's visitors send may reach A."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.tokens import b64encode
from parlour.web import csrf
from parlour.web.app import create_app
from parlour.web.parts import parts

from support.web import log_in, running

DOMAIN = "salons.test"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _two_salons(tmp_path: Path, **settings: object) -> AsyncIterator[Starlette]:
    app = create_app(
        load_settings(
            env_file=None, data_dir=tmp_path, tenancy="multi", platform_domain=DOMAIN, **settings
        )
    )
    async with running(app):
        tenants = parts(app).runtime.tenants
        assert tenants is not None
        for slug in ("maya", "jonah"):
            await tenants.create(slug, slug.title(), f"owner@{slug}.test")
        yield app


@pytest.fixture
async def salons(tmp_path: Path) -> AsyncIterator[Starlette]:
    async for app in _two_salons(tmp_path):
        yield app


def client(app: Starlette, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


async def test_an_anonymous_csrf_cookie_of_one_salon_is_refused_at_another(
    salons: Starlette,
) -> None:
    """The anonymous CSRF cookie is signed with the deployment's one key: one made at maya's
    host (a page anyone can fetch) passed the check at jonah's, with its token. A sibling
    host that can set a cookie for the parent domain then forges jonah's public forms."""
    async with client(salons, f"maya.{DOMAIN}") as maya:
        page = await maya.get("/login")
        cookie = page.cookies["parlour_csrf"]
        token = _TOKEN.search(page.text)
        assert token is not None
    async with client(salons, f"jonah.{DOMAIN}") as jonah:
        answer = await jonah.post(
            "/login",
            data={"email": "a@b.test", "password": "x", "csrf_token": token.group(1)},
            headers={"cookie": f"parlour_csrf={cookie}"},
        )
    assert answer.status_code == 403, answer.text


async def test_the_same_cookie_and_token_still_work_at_their_own_salon(
    salons: Starlette,
) -> None:
    async with client(salons, f"maya.{DOMAIN}") as maya:
        page = await maya.get("/login")
        token = _TOKEN.search(page.text)
        assert token is not None
        answer = await maya.post(
            "/login", data={"email": "a@b.test", "password": "x", "csrf_token": token.group(1)}
        )
    assert answer.status_code == 400  # past the CSRF check: the password is wrong


@pytest.fixture
async def behind_origin(tmp_path: Path) -> AsyncIterator[Starlette]:
    """PARLOUR_PUBLIC_ORIGIN names the bare platform domain with many salons (its scheme and
    port are every salon's)."""
    async for app in _two_salons(tmp_path, public_origin=f"http://{DOMAIN}"):
        yield app


@pytest.mark.parametrize(
    ("origin", "status"),
    [(f"http://maya.{DOMAIN}", 400), (f"http://jonah.{DOMAIN}", 403), (f"http://{DOMAIN}", 403)],
    ids=["own-host", "another-salon", "platform"],
)
async def test_a_salon_judges_a_browser_form_by_its_own_origin(
    behind_origin: Starlette, origin: str, status: int
) -> None:
    """With PARLOUR_PUBLIC_ORIGIN set, every salon expected its forms from the platform's
    origin: a salon's own page was refused (no staff could log in from a browser) and a page
    of the platform's host passed."""
    async with client(behind_origin, f"maya.{DOMAIN}") as maya:
        page = await maya.get("/login")
        token = _TOKEN.search(page.text)
        assert token is not None
        answer = await maya.post(
            "/login",
            data={"email": "a@b.test", "password": "x", "csrf_token": token.group(1)},
            headers={"origin": origin},
        )
    assert answer.status_code == status, answer.text[:300]


@pytest.fixture
async def held(tmp_path: Path) -> AsyncIterator[Starlette]:
    async for app in _two_salons(tmp_path, platform_rate_limit="4/1 minute"):
        yield app


async def test_password_guesses_count_against_the_address_across_every_salon(
    held: Starlette,
) -> None:
    """PARLOUR_PLATFORM_RATE_LIMIT holds one address's logins across every salon together, as
    its description says; password guesses counted only in each salon's own windows, so one
    address could try ten passwords per salon per quarter hour at every salon of the platform."""
    async with client(held, f"maya.{DOMAIN}") as maya, client(held, f"jonah.{DOMAIN}") as jonah:
        for salon in (maya, jonah, maya, jonah):
            assert (await log_in(salon, "owner@x.test", "a guess 123")).status_code == 400
        assert (await log_in(jonah, "owner@x.test", "a guess 123")).status_code == 429


@pytest.fixture
async def sending(tmp_path: Path) -> AsyncIterator[Starlette]:
    # Nothing listens there: the delivery worker only pauses.
    async for app in _two_salons(tmp_path, smtp_url="smtp://127.0.0.1:9"):
        yield app


async def test_a_salons_outbox_page_shows_no_figures_of_the_whole_deployment(
    sending: Starlette,
) -> None:
    """/admin/outbox showed the process's delivery figures (messages due in every salon's
    outbox; sent, retried and given up on for all salons) to each salon's admin."""
    runtime = parts(sending).runtime
    assert runtime.salons is not None
    assert runtime.tenants is not None
    maya = runtime.salons.services(await runtime.tenants.require("maya"))
    await maya.core.accounts.create_user("owner@maya.test", "admin", "maya password 123")
    async with client(sending, f"maya.{DOMAIN}") as browser:
        assert (await log_in(browser, "owner@maya.test", "maya password 123")).status_code == 303
        page = await browser.get("/admin/outbox")
    assert page.status_code == 200
    assert "Sending through" in page.text
    assert "this instance sent" not in page.text


async def test_a_host_longer_than_any_domain_name_is_nobodys(salons: Starlette) -> None:
    """A Host header longer than a domain name can be became a directory key too long for the
    store: a 500 (InvalidKey) before any page, where any other unknown host gets 404."""
    async with client(salons, "x" * 600 + ".example") as visitor:
        answer = await visitor.get("/")
    assert answer.status_code == 404


@pytest.fixture
async def adopted(tmp_path: Path) -> AsyncIterator[Starlette]:
    app = create_app(
        load_settings(env_file=None, data_dir=tmp_path, tenancy="multi", platform_domain=DOMAIN)
    )
    async with running(app):
        tenants = parts(app).runtime.tenants
        assert tenants is not None
        await tenants.create("first", "First", "owner@first.test", adopt=True)
        yield app


async def test_the_platforms_anonymous_csrf_cookie_is_refused_at_the_adopted_salon(
    adopted: Starlette,
) -> None:
    """The platform's pages and the salon that adopted a single-salon deployment both signed
    with the deployment's own key: an anonymous CSRF cookie of the platform's (its sign-up
    form's, made here as the platform makes one) passed the adopted salon's forms."""
    nonce = b64encode(secrets.token_bytes(32))
    cookie = f"{nonce}.{csrf._signed(nonce, parts(adopted).secret_key)}"  # the platform's parts
    async with client(adopted, f"first.{DOMAIN}") as first:
        answer = await first.post(
            "/login",
            data={"email": "a@b.test", "password": "x", "csrf_token": csrf.mask(nonce)},
            headers={"cookie": f"parlour_csrf={cookie}"},
        )
    assert answer.status_code == 403, answer.text
