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

from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount, Route

from parlour.config import Settings, load_secret_key, load_settings
from parlour.links import Links, allowed_hosts
from parlour.mail.delivery import delivery_from_settings, mail_setup
from parlour.services.cache import ItemCache
from parlour.services.core import Core
from parlour.services.hashing import HashingPool
from parlour.services.sessions import SessionRecord, SessionService
from parlour.storage import Storage
from parlour.storage.durability import Durability
from parlour.web import (
    admin,
    audit,
    auth,
    clients,
    desk,
    health,
    live,
    manage,
    outbox,
    public,
    reset,
    studio,
    twofactor,
)
from parlour.web.api import build_api
from parlour.web.errors import HangUps, HeaderLimit, install_error_handlers
from parlour.web.forms import CloseForms
from parlour.web.health import ServingGate
from parlour.web.hosts import AllowedHosts
from parlour.web.metrics import HashingMetrics, Metrics, OutboxMetrics, RequestMetrics
from parlour.web.metrics_access import guarded
from parlour.web.parts import Parts
from parlour.web.ratelimit import Limiter, RateLimitHeaders, policies_from
from parlour.web.routing import IndexedRouter
from parlour.web.security import SecurityHeaders
from parlour.web.sessions import SessionMiddleware
from parlour.web.templating import StaticAssets, build_templates

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
"""Largest request body a page accepts; larger ones are answered 413 before being read."""


def create_app(
    settings: Settings,
    *,
    storage: Storage | None = None,
    password_hasher: PasswordHasher | None = None,
) -> Starlette:
    """A Parlour app for ``settings``; its lifespan opens and closes every connection.

    Pass ``storage`` to share one already planned :class:`Storage` (its lifespan is still run
    by the app). ``password_hasher`` replaces argon2's default parameters: the tests pass a
    cheap one, since a deployment never should (so it is not a setting).
    """
    planned = storage if storage is not None else Storage.from_settings(settings)
    secret = load_secret_key(settings)
    limiter = Limiter(planned.ratelimits, policies_from(settings), secret)
    metrics = Metrics(planned, limiter)
    hashing = HashingPool(settings.password_hash_threads, settings.password_hash_queue)
    metrics.registry.register(HashingMetrics(hashing))
    mail = mail_setup(settings, secret)
    core = Core.assemble(planned.kv, mail=mail, hashing=hashing, password_hasher=password_hasher)
    cache = core.cache

    async def credentials(email: str, fresh: bool) -> int | None:
        return await core.accounts.credentials_version(email, fresh=fresh)

    session_cache: ItemCache[SessionRecord] = ItemCache(
        planned.kv("sessions"), settings.session_cache_size
    )
    sessions = SessionService(
        planned.kv("sessions"),
        idle_timeout=settings.session_idle_timeout,
        absolute_timeout=settings.session_absolute_timeout,
        observe=metrics.observe_session,
        credentials=credentials,
        cache=session_cache,
    )

    def forget_copies() -> None:  # the store was emptied or replaced under us
        cache.clear()
        session_cache.clear()
        core.day_cache.clear()

    durability = Durability(planned, settings.data_dir, on_change=forget_copies)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with planned:
            for status in await planned.check():
                if status.error:
                    log.warning("%s is not answering yet: %s", status.description, status.error)
            cache.start()
            session_cache.start()
            core.day_cache.start()
            await durability.start()
            delivery.start()
            try:
                yield
            finally:
                await delivery.stop()
                await durability.stop()
                await core.day_cache.stop()
                await session_cache.stop()
                await cache.stop()
                hashing.close()

    delivery = delivery_from_settings(
        settings, core.outboxes.all, limiter, secret, relay=mail.relay
    )
    metrics.registry.register(OutboxMetrics(lambda: delivery.stats, delivery.clock))
    assets = StaticAssets.scan()
    app_parts = Parts(
        settings=settings,
        storage=planned,
        secret_key=secret,
        templates=build_templates(assets),
        limiter=limiter,
        metrics=metrics,
        sessions=sessions,
        core=core,
        delivery=delivery,
        links=Links.from_settings(settings),
        durability=durability,
    )
    api = build_api(app_parts)
    install_error_handlers(api)

    # With its own listener (PARLOUR_METRICS_BIND, started by `parlour serve`), /metrics
    # leaves the main port.
    metrics_route = (
        []
        if settings.metrics_bind
        else [Route("/metrics", guarded(metrics.endpoint, settings, loopback_only=True))]
    )
    routes = [
        *public.routes,
        *manage.routes,
        *health.routes,
        *metrics_route,
        *auth.routes,
        *reset.routes,
        *desk.routes,
        *live.routes,
        *studio.routes,
        *admin.routes,
        *clients.routes,
        *outbox.routes,
        *audit.routes,
        *twofactor.routes,
        Mount("/api", api),
        Mount("/static", assets.files(), name="static"),
        Route("/favicon.ico", assets.favicon),
    ]
    app = Starlette(
        middleware=[
            Middleware(RequestMetrics, metrics=metrics, log_requests=settings.log_format == "json"),
            Middleware(HangUps),  # inside the metrics, so a hang-up is counted as one
            Middleware(SecurityHeaders, https=settings.secure_cookies),
            # Pages, JSON and CSS; Starlette leaves event streams and images as they are.
            Middleware(GZipMiddleware, minimum_size=500),
            Middleware(HeaderLimit),
            Middleware(AllowedHosts, hosts=allowed_hosts(settings)),
            Middleware(ServingGate, durability=durability),
            Middleware(SessionMiddleware, service=sessions, settings=settings),
            Middleware(RateLimitHeaders),
            Middleware(CloseForms),
        ],
        max_body_size=MAX_BODY,
    )
    app.router = IndexedRouter(routes, lifespan=lifespan)  # Starlette's, without trying every route
    app.state.parts = app_parts
    install_error_handlers(app)
    return app


def app_from_environment() -> Starlette:
    """Entry point for ``uvicorn --factory`` (each worker process reads the settings once)."""
    return create_app(load_settings())
