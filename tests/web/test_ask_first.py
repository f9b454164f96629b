"""Staff actions that end sessions or clear limits ask first, on a page of their own that works
without JavaScript; nothing happens until the second button is pressed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import furnish
from support.web import log_in, post_form, running

ADMIN, PASSWORD = "admin@example.com", "correct horse battery"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app):
        await furnish(parts(app).storage.kv)
        await core(app).accounts.create_user(ADMIN, "admin", PASSWORD)
        yield app


def browser(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.mark.parametrize(
    ("page", "action", "fields", "question"),
    [
        ("/admin/account", "/admin/account/sessions/end-others", {}, "End every other session?"),
        ("/admin/account", "/admin/account/sessions/end-all", {}, "Log out everywhere?"),
        (
            "/admin/users",
            "/admin/users/end-sessions",
            {"email": ADMIN},
            f"End every session of {ADMIN}?",
        ),
    ],
    ids=["end the others", "log out everywhere", "end a user's sessions"],
)
async def test_ending_sessions_asks_first_and_ends_nothing_until_confirmed(
    app: Starlette, page: str, action: str, fields: dict[str, str], question: str
) -> None:
    here, there = browser(app), browser(app)
    await log_in(here, ADMIN, PASSWORD)
    await log_in(there, ADMIN, PASSWORD)
    asked = await post_form(here, page, action, **fields)
    assert asked.status_code == 200
    assert question in asked.text
    assert 'name="confirmed" value="yes"' in asked.text
    assert "No, go back" in asked.text
    assert (await there.get("/admin")).status_code == 200  # still logged in
    done = await post_form(here, page, action, **fields, confirmed="yes")
    assert done.status_code == 303
    assert (await there.get("/admin")).status_code == 303  # now logged out


async def test_ending_another_listed_session_asks_first(app: Starlette) -> None:
    here, there = browser(app), browser(app)
    await log_in(there, ADMIN, PASSWORD)
    await log_in(here, ADMIN, PASSWORD)
    rows = (await here.get("/admin/account")).text.split("<tr>")[2:]
    assert len(rows) == 2
    other = next(row for row in rows if "(this device)" not in row)
    key = other.split('name="session_key" value="')[1].split('"')[0]
    asked = await post_form(here, "/admin/account", "/admin/account/sessions/end", session_key=key)
    assert asked.status_code == 200
    assert "End that session?" in asked.text
    assert (await there.get("/admin")).status_code == 200
    fields = {"session_key": key, "confirmed": "yes"}
    ended = await post_form(here, "/admin/account", "/admin/account/sessions/end", **fields)
    assert ended.status_code == 303
    assert (await there.get("/admin")).status_code == 303


async def test_clearing_rate_limits_asks_first(app: Starlette) -> None:
    here = browser(app)
    await log_in(here, ADMIN, PASSWORD)
    page = "/admin/ratelimits?ip=192.0.2.1"
    asked = await post_form(here, page, "/admin/ratelimits/clear", ip="192.0.2.1")
    assert asked.status_code == 200
    assert "Clear every window of 192.0.2.1?" in asked.text
    assert 'href="/admin/ratelimits?email=&amp;ip=192.0.2.1"' in asked.text
    cleared = await post_form(
        here, page, "/admin/ratelimits/clear", ip="192.0.2.1", confirmed="yes"
    )
    assert cleared.status_code == 303
    entries = [e.action async for e in core(app).audit.entries()]
    assert entries.count("ratelimit.clear") == 1  # once: the question changed nothing
