"""The application factory. Nothing is built at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from parlour import __version__
from parlour.config import Settings, load_secret_key, load_settings
from parlour.storage import Storage
from parlour.web import health
from parlour.web.errors import install_error_handlers
from parlour.web.ratelimit import Limiter, RateLimitHeaders, policies_from
from parlour.web.templating import STATIC_DIRECTORY, build_templates

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, storage: Storage | None = None) -> FastAPI:
    """A Parlour app for ``settings``; its lifespan opens and closes every connection.

    Pass ``storage`` to share one already planned :class:`Storage` (its lifespan is still run
    by the app).
    """
    planned = storage if storage is not None else Storage.from_settings(settings)
    secret = load_secret_key(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with planned:
            for status in await planned.check():
                if status.error:
                    log.warning("%s is not answering yet: %s", status.description, status.error)
            yield

    app = FastAPI(title="Parlour", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.storage = planned
    app.state.templates = build_templates()
    app.state.limiter = Limiter(planned.ratelimits, policies_from(settings), secret)
    app.add_middleware(RateLimitHeaders)
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIRECTORY), name="static")
    app.include_router(health.router)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home() -> str:
        return "<!doctype html><title>Parlour</title><h1>Parlour</h1><p>Booking opens soon.</p>"

    return app


def app_from_environment() -> FastAPI:
    """Entry point for ``uvicorn --factory`` (each worker process reads the settings once)."""
    return create_app(load_settings())
