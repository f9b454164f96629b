"""Staff two-factor (issue 11.5) over HTTP, with codes computed by pyotp as a phone would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pyotp
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.storage import KVStore
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.waiting import eventually
from support.web import form_token, log_in, post_form, running

ADMIN, STAFF, PASSWORD = "admin@example.com", "staff@example.com", "correct horse battery"


@dataclass
class Site:
    app: Starlette
    tmp_path: Path

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )

    @property
    def sessions(self) -> KVStore:
        store: KVStore = parts(self.app).storage.kv("sessions")
        return store


async def site_for(tmp_path: Path, **settings: object) -> AsyncIterator[Site]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path / "data", **settings))
    async with running(app):
        await core(app).accounts.create_user(ADMIN, "admin", PASSWORD)
        await core(app).accounts.create_user(STAFF, "staff", PASSWORD)
        yield Site(app, tmp_path)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Site]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    async for made in site_for(tmp_path, redis_url=redis_url):
        yield made


def code_at(key: str, steps_after_enrolment: int = 0) -> str:
    """Codes are made for fixed time-steps counted from enrolment, so a test that crosses a
    30 s boundary still sends the same codes (the server accepts one step either side)."""
    return pyotp.TOTP(key).generate_otp(_enrolled[key] + steps_after_enrolment)


_enrolled: dict[str, int] = {}


async def enrol(browser: httpx.AsyncClient) -> tuple[str, list[str]]:
    """Set up two-factor as a person would; returns the key and the recovery codes."""
    started = await post_form(
        browser, "/admin/account/two-factor", "/admin/account/two-factor/start"
    )
    assert started.status_code == 303
    page = await browser.get("/admin/account/two-factor")
    match = re.search(r'<code class="totp-key">([A-Z2-7]+)</code>', page.text)
    assert match, page.text
    key = match[1]
    _enrolled[key] = int(time.time()) // 30
    svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    assert "style" not in svg  # the strict CSP allows no inline style, nor script
    assert "script" not in svg
    wrong = await browser.post(
        "/admin/account/two-factor/confirm",
        data={"csrf_token": form_token(page.text), "code": "000000"},
    )
    assert wrong.status_code == 400
    confirmed = await browser.post(
        "/admin/account/two-factor/confirm",
        data={"csrf_token": form_token(page.text), "code": code_at(key)},
    )
    assert confirmed.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7-]{19})</code></li>", confirmed.text)
    assert len(codes) == 10
    return key, codes


async def password_step(browser: httpx.AsyncClient, email: str = ADMIN) -> httpx.Response:
    answer = await log_in(browser, email, PASSWORD)
    assert answer.status_code == 200, answer.status_code
    assert "Enter your code" in answer.text
    return answer


async def code_step(browser: httpx.AsyncClient, page: httpx.Response, code: str) -> int:
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert token
    answer = await browser.post(
        "/login/code",
        data={"csrf_token": form_token(page.text), "login_token": token[1], "code": code},
    )
    return answer.status_code


async def test_enrol_then_log_in_with_a_code_and_refuse_its_replay(site: Site) -> None:
    browser = site.browser()
    await log_in(browser, ADMIN, PASSWORD)
    before = browser.cookies.get("parlour_session")
    key, _ = await enrol(browser)
    assert browser.cookies.get("parlour_session") != before  # rotated on the change
    assert (await browser.get("/admin")).status_code == 200
    await post_form(browser, "/admin", "/logout")

    phone = site.browser()
    page = await password_step(phone)
    # The half-way state is no session: no cookie, no staff page, nothing stored but the
    # pending login.
    assert phone.cookies.get("parlour_session") is None
    assert (await phone.get("/admin")).status_code == 303
    stored = await site.sessions.get_all_items()
    assert [k for k in stored if not k.startswith(("user:", "login:"))] == []
    assert await code_step(phone, page, code_at(key)) == 400  # used to confirm: a replay
    assert await code_step(phone, page, code_at(key, 1)) == 303
    assert phone.cookies.get("parlour_session")  # the session id, issued after the code
    assert (await phone.get("/admin/users")).status_code == 200

    again = site.browser()
    page = await password_step(again)
    assert await code_step(again, page, code_at(key, 1)) == 400  # that step was used


async def test_a_recovery_code_works_once(site: Site) -> None:
    browser = site.browser()
    await log_in(browser, ADMIN, PASSWORD)
    _, codes = await enrol(browser)
    first = site.browser()
    assert await code_step(first, await password_step(first), codes[0].upper()) == 303
    second = site.browser()
    assert await code_step(second, await password_step(second), codes[0]) == 400
    assert await code_step(second, await password_step(second), codes[1]) == 303


async def test_a_wrong_code_counts_like_a_wrong_password(site: Site) -> None:
    browser = site.browser()
    await log_in(browser, ADMIN, PASSWORD)
    key, _ = await enrol(browser)
    guesser = site.browser()
    page = await password_step(guesser)
    statuses = [await code_step(guesser, page, f"{n:06d}") for n in range(9)]
    assert statuses == [400] * 9  # and the wrong code tried while enrolling made ten
    assert await code_step(guesser, page, code_at(key, 1)) == 429  # even the right one waits


async def test_turning_it_off_needs_the_password_and_a_code(site: Site) -> None:
    browser = site.browser()
    await log_in(browser, ADMIN, PASSWORD)
    key, codes = await enrol(browser)
    page = "/admin/account/two-factor"
    action = "/admin/account/two-factor/disable"
    wrong_password = await post_form(browser, page, action, password="nope", code=code_at(key, 1))
    assert wrong_password.status_code == 400
    wrong_code = await post_form(browser, page, action, password=PASSWORD, code="123456")
    assert wrong_code.status_code == 400
    done = await post_form(browser, page, action, password=PASSWORD, code=codes[0])
    assert done.status_code == 303
    assert (await log_in(site.browser(), ADMIN, PASSWORD)).status_code == 303  # one step again
    actions = [e.action async for e in core(site.app).audit.entries()]
    assert actions == ["2fa.start", "2fa.enable", "2fa.disable"]


async def test_require_2fa_sends_an_admin_to_enrol_first(tmp_path: Path) -> None:
    async for site in site_for(tmp_path, require_2fa=True):
        admin, staff = site.browser(), site.browser()
        await log_in(admin, ADMIN, PASSWORD)
        await log_in(staff, STAFF, PASSWORD)
        for path in ("/admin", "/admin/users", "/admin/calendar", "/admin/audit"):
            answer = await admin.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == "/admin/account/two-factor"
        assert (await admin.get("/admin/account")).status_code == 200
        assert (await staff.get("/admin")).status_code == 200  # staff are not required to
        await enrol(admin)
        assert (await admin.get("/admin/users")).status_code == 200


async def test_an_operator_resets_two_factor_and_the_sessions_end(tmp_path: Path) -> None:
    async for site in site_for(tmp_path):
        browser = site.browser()
        await log_in(browser, ADMIN, PASSWORD)
        await enrol(browser)
        assert (await browser.get("/admin")).status_code == 200
        assert reset(tmp_path / "data", ADMIN) == 0
        user = await core(site.app).accounts.get(ADMIN)
        assert user is not None
        assert not user.two_factor
        await eventually(partial(logged_out, browser), what="the reset account's session ended")
        assert (await log_in(site.browser(), ADMIN, PASSWORD)).status_code == 303


async def logged_out(browser: httpx.AsyncClient) -> bool:
    return (await browser.get("/admin")).status_code == 303


def reset(data: Path, email: str) -> int:
    result = subprocess.run(
        [sys.executable, "-m", "parlour", "two-factor", "reset", "--email", email],
        env={**os.environ, "PARLOUR_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Two-factor is off" in result.stdout, result.stderr
    return result.returncode
