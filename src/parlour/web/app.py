"""The application factory. Nothing is built at import time.

Pages are Starlette routes: a handler parses its form, calls one service and renders. FastAPI
serves the JSON API under ``/api``, where its validation and OpenAPI document earn their cost.
(Measured on FastAPI 0.165: 37 µs of framework per request before a route runs, and about 3 µs
per route its router checks; a Starlette route costs a fraction of that.)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount, Route

from parlour.config import Settings, load_settings
from parlour.links import Links, allowed_hosts
from parlour.runtime import Runtime
from parlour.salons import SalonServices
from parlour.storage import Storage
from parlour.web import health, public, staff
from parlour.web.api import build_api
from parlour.web.errors import install_error_handlers
from parlour.web.metrics import HashingMetrics, Metrics, OutboxMetrics
from parlour.web.metrics_access import guarded
from parlour.web.middleware.close_forms import CloseForms
from parlour.web.middleware.hang_ups import HangUps
from parlour.web.middleware.header_limit import HeaderLimit
from parlour.web.middleware.hosts import AllowedHosts
from parlour.web.middleware.ratelimit_headers import RateLimitHeaders
from parlour.web.middleware.request_metrics import RequestMetrics
from parlour.web.middleware.salons import SalonHosts
from parlour.web.middleware.security import SecurityHeaders
from parlour.web.middleware.serving_gate import ServingGate
from parlour.web.middleware.sessions import SessionMiddleware
from parlour.web.parts import Parts
from parlour.web.platform import routes as platform_routes
from parlour.web.platform import salon_routes
from parlour.web.platform.layout import platform_templates
from parlour.web.templating import StaticAssets, build_templates

MAX_BODY = 1024 * 1024
"""Largest request body a page accepts; larger ones are answered 413 before being read."""


def create_app(
    settings: Settings,
    *,
    storage: Storage | None = None,
    password_hasher: PasswordHasher | None = None,
) -> Starlette:
    """A Parlour app for ``settings`` over one :class:`Runtime`, which its lifespan runs
    (every connection opened and closed, the workers started and stopped).

    Pass ``storage`` to share one already planned :class:`Storage` (its lifespan is still run
    by the app). ``password_hasher`` replaces argon2's default parameters: the tests pass a
    cheap one, since a deployment never should (so it is not a setting).
    """
    runtime = Runtime.from_settings(settings, storage=storage, password_hasher=password_hasher)
    metrics = Metrics(runtime.storage, runtime.limiter)
    runtime.observe_sessions(metrics.observe_session)
    metrics.registry.register(HashingMetrics(runtime.hashing))
    delivery = runtime.delivery
    metrics.registry.register(OutboxMetrics(lambda: delivery.stats, delivery.clock))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with runtime:
            yield

    assets = StaticAssets.scan()
    app_parts = Parts(
        settings=settings,
        storage=runtime.storage,
        secret_key=runtime.secret_key,
        templates=build_templates(assets),
        limiter=runtime.limiter,
        metrics=metrics,
        sessions=runtime.sessions,
        core=runtime.core,
        delivery=delivery,
        links=Links.from_settings(settings),
        durability=runtime.durability,
        runtime=runtime,
        stores=runtime.home.stores,
    )
    api = build_api(app_parts)
    install_error_handlers(api)
    # Inside the host check: what serves a salon, or the platform, once the host is known.
    inner = [
        Middleware(ServingGate, durability=runtime.durability),
        Middleware(SessionMiddleware, service=runtime.sessions, settings=settings),
        Middleware(RateLimitHeaders),
        Middleware(CloseForms),
    ]

    # With its own listener (PARLOUR_METRICS_BIND, started by `parlour serve`), /metrics
    # leaves the main port.
    metrics_route = (
        []
        if settings.metrics_bind
        else [Route("/metrics", guarded(metrics.endpoint, settings, loopback_only=True))]
    )
    # A request tries the top level in order, then only its own segment's mount (web/routing.py);
    # the first segments are all different, so the order changes no answer, only how many
    # patterns a request tries first: health checks, staff pages and static files lead.
    routes = [
        *health.routes,
        *metrics_route,
        *staff.routes(),
        Mount("/static", assets.files(), name="static"),
        # Many salons: the owner's first login after sign-up, before the /login mount.
        *(salon_routes() if settings.tenancy == "multi" else []),
        *public.routes(),
        Mount("/api", api),
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
            hosts_check(runtime, app_parts, inner, assets),
            *inner,
        ],
        routes=routes,
        lifespan=lifespan,
        max_body_size=MAX_BODY,
    )
    app.state.parts = app_parts
    install_error_handlers(app)
    return app


def hosts_check(
    runtime: Runtime, app_parts: Parts, inner: list[Middleware], assets: StaticAssets
) -> Middleware:
    """Which host a request may be for: this site's names (one salon), or with many salons,
    each salon's and the platform's (``web/middleware/salons.py``)."""
    if runtime.tenants is None or runtime.salons is None:
        return Middleware(AllowedHosts, hosts=allowed_hosts(runtime.settings))
    platform = Starlette(
        middleware=inner,
        routes=[
            *health.routes,
            Mount("/static", assets.files(), name="static"),
            Route("/favicon.ico", assets.favicon),
            *platform_routes(),
        ],
    )
    platform.state.parts = replace(app_parts, templates=platform_templates(assets))
    install_error_handlers(platform)

    def parts_of(services: SalonServices) -> Parts:
        return replace(
            app_parts,
            # Signed values (anonymous CSRF cookies, kept booking details) are the salon's own:
            # one made at another salon's host, or the platform's, must not pass here.
            secret_key=salon_key(runtime.secret_key, services.salon.slug)
            if services.salon is not None
            else runtime.secret_key,
            core=services.core,
            sessions=services.sessions,
            limiter=services.limiter,
            links=services.links,
            stores=services.stores,
        )

    return Middleware(
        SalonHosts,
        tenants=runtime.tenants,
        salons=runtime.salons,
        platform=platform,
        parts_of=parts_of,
    )


def salon_key(secret: bytes, slug: str) -> bytes:
    """The key a salon of many signs its cookies with: the deployment's, bound to the salon."""
    return hmac.new(secret, b"salon\0" + slug.encode(), hashlib.sha256).digest()


def app_from_environment() -> Starlette:
    """Entry point for ``uvicorn --factory`` (each worker process reads the settings once)."""
    return create_app(load_settings())
