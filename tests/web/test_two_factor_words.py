"""Issue 24, defect 18: two-factor says why the code that turned it on is refused at a login in
the same 30 s, lets a recovery code's letters be typed, and names the salon in the app."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pyotp
import pytest

from parlour.config import load_settings
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import furnish
from support.web import form_token, log_in, post_form, running

ADMIN, PASSWORD = "owner@example.com", "correct horse battery"


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app) as client:
        await furnish(parts(app).storage.kv)  # the salon is "Test Salon"
        await core(app).accounts.create_user(ADMIN, "admin", PASSWORD)
        await log_in(client, ADMIN, PASSWORD)
        yield client


async def _turn_on(browser: httpx.AsyncClient) -> tuple[str, str, httpx.Response]:
    """Set two-factor up as a person would: the enrolment page, then its first code."""
    await post_form(browser, "/admin/account/two-factor", "/admin/account/two-factor/start")
    page = await browser.get("/admin/account/two-factor")
    key = re.search(r'<code class="totp-key">([A-Z2-7]+)</code>', page.text)
    assert key
    code = pyotp.TOTP(key[1]).now()
    on = await browser.post(
        "/admin/account/two-factor/confirm",
        data={"csrf_token": form_token(page.text), "code": code},
    )
    assert on.status_code == 200
    return page.text, code, on


async def test_the_code_that_turned_it_on_is_refused_once_more_with_the_reason(
    browser: httpx.AsyncClient,
) -> None:
    _, code, on = await _turn_on(browser)
    assert "The code you just entered is used up" in on.text
    browser.cookies.clear()
    asked = await log_in(browser, ADMIN, PASSWORD)
    token = re.search(r'name="login_token" value="([^"]+)"', asked.text)
    assert token
    again = await browser.post(
        "/login/code",
        data={"csrf_token": form_token(asked.text), "login_token": token[1], "code": code},
    )
    assert again.status_code == 400
    assert "That code was used already" in html.unescape(again.text)


async def test_the_login_code_field_takes_a_recovery_codes_letters(
    browser: httpx.AsyncClient,
) -> None:
    await _turn_on(browser)
    browser.cookies.clear()
    asked = await log_in(browser, ADMIN, PASSWORD)
    assert "Enter your code" in asked.text
    field = re.search(r'<input type="text" name="code"[^>]*>', asked.text)
    assert field
    assert 'inputmode="numeric"' not in field[0]  # a number pad has no letters
    assert 'autocomplete="one-time-code"' in field[0]
    assert "shows for Test Salon" in asked.text


async def test_the_authenticator_entry_names_the_salon(browser: httpx.AsyncClient) -> None:
    enrolment, _, _ = await _turn_on(browser)
    link = re.search(r'href="(otpauth://[^"]+)"', enrolment)
    assert link
    uri = unquote(html.unescape(link[1]))
    assert uri.startswith(f"otpauth://totp/Test Salon:{ADMIN}?")  # not "Parlour"
    assert "issuer=Test Salon" in uri
