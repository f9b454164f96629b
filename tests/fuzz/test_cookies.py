"""Hypothesis on what arrives in the Cookie header: any text a client can send there ends in a
plain "please log in", never a 500, never a session, never a write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.web.app import create_app
from parlour.web.parts import parts

from support.web import running

# What an HTTP client can put in a header value: visible Latin-1, space and tab.
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF) | st.just("\t"), max_size=400
)
fuzzing = settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app) as client:
        yield app, client


async def sessions_stored(app: Starlette) -> int:
    return len(await parts(app).storage.kv("sessions").get_all_items())


@fuzzing
@given(value=header_text)
async def test_any_session_cookie_value_asks_to_log_in(
    site: tuple[Starlette, httpx.AsyncClient], value: str
) -> None:
    app, client = site
    cookie = f"parlour_session={value}".encode("latin-1")  # as sent on the wire
    answer = await client.get("/admin", headers=[(b"cookie", cookie)])
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")
    assert await sessions_stored(app) == 0


@fuzzing
@given(header=header_text)
async def test_any_cookie_header_on_a_form_post_is_answered_cleanly(
    site: tuple[Starlette, httpx.AsyncClient], header: str
) -> None:
    app, client = site
    client.cookies.clear()
    answer = await client.post(
        "/login", data={"email": "a@example.com"}, headers=[(b"cookie", header.encode("latin-1"))]
    )
    assert answer.status_code < 500  # a page or a refusal; the login itself needs a password
    assert await sessions_stored(app) == 0
