"""The apps bench/sessions.py serves with uvicorn, built from the environment it is given.

Each answers GET /me to a logged-in user with their e-mail address, read from the session, so
the session handling is all that differs. ``BENCH_REDIS_URL`` names the Redis,
``BENCH_DATABASE_URL`` the PostgreSQL.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from markupsafe import Markup
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starsessions import SessionMiddleware, load_session
from starsessions.stores.redis import RedisStore

from parlour.config import load_settings
from parlour.services.catalogue import Business
from parlour.services.sessions import new_csrf_secret
from parlour.web.app import create_app
from parlour.web.csrf import mask
from parlour.web.middleware.security import SecurityHeaders
from parlour.web.pages import render
from parlour.web.staff.guards import STAFF, signed_in
from parlour.web.templating import STATIC_DIRECTORY, build_templates

EMAIL = "bench@example.com"
LANDING = {"business": Business(name="Bench"), "day": date(2026, 12, 1), "columns": []}
"""The staff landing page's template with a fixed, empty day: the page is the same in every app,
and only the session handling differs (Parlour's real /admin also reads the day's bookings)."""


async def me(request: Request) -> Response:
    return PlainTextResponse(signed_in(request).email)


async def landing(request: Request) -> Response:
    return await render(request, "admin/index.html", LANDING)


def parlour_app(
    redis_url: str | None, *, security_headers: bool = True, database_url: str | None = None
) -> Starlette:
    settings = load_settings(
        env_file=None,
        data_dir=Path(os.environ["BENCH_DATA_DIR"]),
        redis_url=redis_url,
        database_url=database_url,
        sessions_backend="postgres" if database_url else "auto",
    )
    app = create_app(settings)
    if not security_headers:  # to price the middleware: the same app without it
        app.user_middleware = [
            m for m in app.user_middleware if cast(object, m.cls) is not SecurityHeaders
        ]
    # Where a staff page sits: after the public and login routes, with the other staff pages.
    position = next(
        i for i, r in enumerate(app.router.routes) if getattr(r, "path", "") == "/admin"
    )
    app.router.routes.insert(position, Route("/me", me, middleware=STAFF))
    app.router.routes.insert(position, Route("/admin", landing, middleware=STAFF))  # before ours
    return app


def parlour_memory() -> Starlette:
    return parlour_app(None)


def parlour_redis() -> Starlette:
    return parlour_app(os.environ["BENCH_REDIS_URL"])


def parlour_redis_without_security_headers() -> Starlette:
    return parlour_app(os.environ["BENCH_REDIS_URL"], security_headers=False)


def parlour_postgres() -> Starlette:
    """Sessions in PostgreSQL: the origin guide's database-backed alternative to Redis."""
    return parlour_app(None, database_url=os.environ["BENCH_DATABASE_URL"])


def starsessions_redis() -> Starlette:
    redis = Redis.from_url(os.environ["BENCH_REDIS_URL"])
    templates = build_templates()

    async def login(request: Request) -> Response:
        await load_session(request)
        request.session["email"] = EMAIL
        request.session["csrf"] = new_csrf_secret()  # as Parlour keeps one per session
        return PlainTextResponse("ok")

    async def whoami(request: Request) -> Response:
        await load_session(request)
        return PlainTextResponse(request.session["email"])

    async def landing(request: Request) -> Response:
        """Parlour's staff landing page, rendered the way Parlour renders it."""
        await load_session(request)
        context = {
            **LANDING,
            "user": SimpleNamespace(email=request.session["email"], role="staff"),
            "flash": "",
            "csrf_input": lambda: Markup(
                '<input type="hidden" name="csrf_token" value="{}">'
            ).format(mask(request.session["csrf"])),
        }
        return templates.TemplateResponse(request, "admin/index.html", context)

    async def healthz(request: Request) -> Response:
        """The peer's ceiling: a page that loads no session."""
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/login", login),
            Route("/me", whoami),
            Route("/admin", landing),
            Route("/healthz", healthz),
            Mount("/static", StaticFiles(directory=STATIC_DIRECTORY), name="static"),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                store=RedisStore(connection=redis, prefix="starsessions:"),
                lifetime=7200,
                rolling=True,
                cookie_https_only=False,
            )
        ],
    )
