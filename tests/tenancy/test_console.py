"""The operator console on the platform's host (issue 23): the platform's own accounts, two-factor
required; every salon with its usage; suspend, resume, add a domain, export and erase, each in
the platform's audit log; a salon's staff session is worth nothing there."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pyotp
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.runtime import Runtime
from parlour.services.audit import AuditFilter
from parlour.services.tenants import Status
from parlour.web.app import create_app
from parlour.web.parts import parts

from support.salon import furnish
from support.web import form_token, log_in, post_form, running

DOMAIN = "salons.test"
OPERATOR, PASSWORD = "op@platform.test", "an operator's long password"
STAFF = "desk@maya.test"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    settings = load_settings(
        env_file=None, data_dir=tmp_path, tenancy="multi", platform_domain=DOMAIN
    )
    made = create_app(settings)
    async with running(made):
        runtime = runtime_of(made)
        assert runtime.tenants is not None
        assert runtime.salons is not None
        await runtime.core.accounts.create_user(OPERATOR, "admin", PASSWORD)
        for slug, name in (("maya", "Maya's Rooms"), ("jonah", "Jonah & Co")):
            salon = await runtime.tenants.create(slug, name, f"owner@{slug}.test")
            catalogue = await furnish(runtime.storage.salon(salon.space).kv)
            await catalogue.put_business(replace(await catalogue.business(), name=name))
        maya = await runtime.tenants.require("maya")
        await runtime.salons.services(maya).core.accounts.create_user(STAFF, "admin", PASSWORD)
        yield made


def runtime_of(app: Starlette) -> Runtime:
    return parts(app).runtime


def client(app: Starlette, host: str = DOMAIN) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


async def operator_with_two_factor(app: Starlette, browser: httpx.AsyncClient) -> None:
    """Log in and set up two-factor through the platform's pages, as an operator would."""
    assert (await log_in(browser, OPERATOR, PASSWORD)).status_code == 303
    sent = await browser.get("/operator")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/admin/account/two-factor"
    started = await post_form(
        browser, "/admin/account/two-factor", "/admin/account/two-factor/start"
    )
    assert started.status_code == 303
    page = await browser.get("/admin/account/two-factor")
    key = re.search(r'<code class="totp-key">([A-Z2-7]+)</code>', page.text)
    assert key, page.text
    confirmed = await browser.post(
        "/admin/account/two-factor/confirm",
        data={"csrf_token": form_token(page.text), "code": pyotp.TOTP(key[1]).now()},
    )
    assert confirmed.status_code == 200


async def actions(app: Starlette) -> list[str]:
    entries, _ = await runtime_of(app).core.audit.page(AuditFilter(what="tenant"), 1)
    return [f"{entry.action} {entry.target} by {entry.actor}" for entry in reversed(entries)]


async def test_an_operator_without_two_factor_cannot_reach_the_console(app: Starlette) -> None:
    async with client(app) as browser:
        assert (await browser.get("/operator")).headers["location"] == "/login?next=%2Foperator"
        assert (await log_in(browser, OPERATOR, PASSWORD)).status_code == 303
        for path in ("/operator", "/operator/salons/maya", "/operator/salons/maya/export"):
            answer = await browser.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == "/admin/account/two-factor"
        refused = await browser.post("/operator/salons/maya/suspend", data={})
        assert refused.status_code in (303, 403)
    tenants = runtime_of(app).tenants
    assert tenants is not None
    assert (await tenants.require("maya")).status is Status.ACTIVE


async def test_a_salon_staff_session_cannot_reach_the_console(app: Starlette) -> None:
    async with client(app, f"maya.{DOMAIN}") as staff:
        assert (await log_in(staff, STAFF, PASSWORD)).status_code == 303
        assert (await staff.get("/admin")).status_code == 200
        cookie = staff.cookies.get("parlour_session")
        assert cookie
    async with client(app, f"maya.{DOMAIN}") as control:  # the cookie alone is a login there
        control.cookies.set("parlour_session", cookie, domain=f"maya.{DOMAIN}")
        assert (await control.get("/admin")).status_code == 200
    async with client(app) as platform:
        platform.cookies.set("parlour_session", cookie, domain=DOMAIN)
        answer = await platform.get("/operator")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")
        # Nor do the salon's staff log in as operators there: the platform's accounts are others.
        assert (await log_in(platform, STAFF, PASSWORD)).status_code == 400


async def test_the_console_lists_salons_with_their_usage(app: Starlette) -> None:
    async with client(app) as browser:
        await operator_with_two_factor(app, browser)
        page = await browser.get("/operator")
    assert page.status_code == 200
    assert "Maya&#39;s Rooms" in page.text
    assert "Jonah &amp; Co" in page.text
    assert "maya.salons.test" in page.text
    row = page.text[page.text.index("Maya&#39;s Rooms") :].split("</tr>", 1)[0]
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[0] == "active"
    assert cells[1] == "0 bookings"
    assert cells[2] == "1 staff"  # one staff account (made by hand for the test)
    assert cells[3].endswith(" KiB stored")
    assert cells[4] == "0 messages"


async def test_each_action_works_and_is_audited(app: Starlette) -> None:
    tenants = runtime_of(app).tenants
    assert tenants is not None
    async with client(app) as browser, client(app, f"maya.{DOMAIN}") as visitor:
        await operator_with_two_factor(app, browser)
        page = "/operator/salons/maya"

        suspended = await post_form(browser, page, f"{page}/suspend")
        assert suspended.status_code == 303
        assert (await visitor.get("/")).status_code == 503
        resumed = await post_form(browser, page, f"{page}/resume")
        assert resumed.status_code == 303
        assert (await visitor.get("/")).status_code == 200

        bad = await post_form(browser, page, f"{page}/domains", host="not a domain")
        assert bad.status_code == 400
        assert "is not a domain name" in bad.text
        added = await post_form(browser, page, f"{page}/domains", host="Book.Mayas-Rooms.test")
        assert added.status_code == 303
        async with client(app, "book.mayas-rooms.test") as custom:
            assert "Maya&#39;s Rooms" in (await custom.get("/")).text

        download = await browser.get(f"{page}/export")
        assert download.status_code == 200
        assert "attachment" in download.headers["content-disposition"]
        lines = [json.loads(line) for line in download.text.splitlines()]
        assert any(line["namespace"] == "users" and line["key"] == STAFF for line in lines)
        assert "Jonah" not in download.text

        wrong = await post_form(browser, page, f"{page}/erase", confirm="jonah")
        assert wrong.status_code == 400
        assert "Type the salon&#39;s address, maya, to erase it" in wrong.text
        assert await tenants.get("maya") is not None
        erased = await post_form(browser, page, f"{page}/erase", confirm="maya")
        assert erased.status_code == 303
        assert "is erased" in (await browser.get("/operator")).text
        assert (await visitor.get("/")).status_code == 404
    assert await tenants.get("maya") is None
    assert await tenants.get("jonah") is not None
    assert await actions(app) == [
        f"tenant.{action} maya by {OPERATOR}"
        for action in ("suspend", "resume", "domain.add", "export", "erase")
    ]


async def test_an_erased_or_unknown_salon_is_a_404_with_a_message(app: Starlette) -> None:
    async with client(app) as browser:
        await operator_with_two_factor(app, browser)
        answer = await browser.get("/operator/salons/nobody")
    assert answer.status_code == 404
    assert "no such salon" in answer.text


async def test_operators_log_in_with_their_second_factor(app: Starlette) -> None:
    async with client(app) as browser:
        await operator_with_two_factor(app, browser)
        await post_form(browser, "/operator", "/logout")
    user = await runtime_of(app).core.accounts.get(OPERATOR)
    assert user is not None
    assert user.two_factor
    async with client(app) as browser:
        asked = await log_in(browser, OPERATOR, PASSWORD)
        assert "Enter your code" in asked.text
        token = re.search(r'name="login_token" value="([^"]+)"', asked.text)
        assert token
        step = int(time.time()) // 30 + 1  # the next step: never the one just used to enrol
        answer = await browser.post(
            "/login/code",
            data={
                "csrf_token": form_token(asked.text),
                "login_token": token[1],
                "code": pyotp.TOTP(user.totp_secret).generate_otp(step),
                "next": "/operator",
            },
        )
        assert answer.status_code == 303
        assert (await browser.get("/operator")).status_code == 200


async def test_parlour_create_user_with_many_salons_makes_an_operator(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PARLOUR_TENANCY": "multi",
        "PARLOUR_PLATFORM_DOMAIN": DOMAIN,
        "PARLOUR_DATA_DIR": str(tmp_path),
    }
    made = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "parlour", "create-user", "--email", OPERATOR, "--role", "admin",
         "--password-stdin"],
        input=PASSWORD + "\n", env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    settings = load_settings(
        env_file=None, data_dir=tmp_path, tenancy="multi", platform_domain=DOMAIN
    )
    app = create_app(settings)
    async with running(app), client(app) as browser:
        assert (await log_in(browser, OPERATOR, PASSWORD)).status_code == 303
        sent = await browser.get("/operator")
        assert sent.headers["location"] == "/admin/account/two-factor"  # an operator, not yet 2FA


async def test_the_platform_shows_borrowed_pages_in_its_own_layout(app: Starlette) -> None:
    async with client(app) as browser:
        pages = [await browser.get("/login"), await browser.get("/login/forgot")]
        pages.append(await browser.get("/nothing-here"))
        await log_in(browser, OPERATOR, PASSWORD)
        pages.append(await browser.get("/admin/account/two-factor"))
    assert [page.status_code for page in pages] == [200, 200, 404, 200]
    for page in pages:
        assert 'href="/signup"' in page.text  # the platform's navigation
        assert 'href="/treatments"' not in page.text  # not a salon's
        assert 'href="/admin/calendar"' not in page.text


async def test_the_operator_reads_the_platform_mail_without_an_smtp_server(app: Starlette) -> None:
    """A sign-up's link went to the platform's outbox, which no page showed: without SMTP an
    operator trying Parlour could not follow it. /operator/mail lists it, readable, link and all;
    to operators only."""
    async with client(app) as visitor:
        page = await visitor.get("/signup")
        fields = {"name": "Ana's Nails", "slug": "ana", "email": "ana@example.com"}
        signed_up = await visitor.post(
            "/signup", data={**fields, "csrf_token": form_token(page.text)}
        )
        assert signed_up.status_code < 400, signed_up.text
        assert (await visitor.get("/operator/mail")).status_code in (302, 303)  # not logged in
    async with client(app) as browser:
        await operator_with_two_factor(app, browser)
        listing = await browser.get("/operator/mail")
        assert listing.status_code == 200
        assert "No SMTP server is configured" in listing.text
        assert "ana@example.com" in listing.text
        opened = re.search(r'href="(/operator/mail/[^"]+/[^"]+)"', listing.text)
        assert opened, listing.text
        message = await browser.get(opened[1])
        assert message.status_code == 200
        assert re.search(r"http://\S+/signup/confirm/\S+", message.text), message.text
        assert (await browser.get("/operator/mail/users/m_nothing")).status_code == 404
    async with client(app, f"maya.{DOMAIN}") as staff:
        assert (await log_in(staff, STAFF, PASSWORD)).status_code == 303
        assert (await staff.get("/operator/mail")).status_code == 404  # no console at a salon
