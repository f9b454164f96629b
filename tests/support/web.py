"""Run an app's lifespan and talk to it in-process."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from parlour.web.forms import submitted
from parlour.web.ratelimit import Identity, enforce


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan entered, and a client speaking to it without a socket."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _TOKEN.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": form_token(page.text)},
    )


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, **fields: str
) -> httpx.Response:
    """Submit a form the way a browser does: load the page, then post with its token."""
    html = (await client.get(page)).text
    return await client.post(action, data={"csrf_token": form_token(html), **fields})


def with_attempt_route(app: Starlette, policy: str = "booking") -> Starlette:
    """The test app of the rate-limit issue: one route a policy guards, as bookings will be."""

    async def attempt(request: Request) -> JSONResponse:
        form = await submitted(request)
        await enforce(request, policy, Identity.email(form.text("email", 254)))
        return JSONResponse({"ok": True})

    app.router.routes.insert(0, Route("/attempt", attempt, methods=["POST"]))
    return app
