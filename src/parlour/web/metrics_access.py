"""Who may read ``/metrics``: its figures (routes, rate-limit decisions, Redis memory and
clients) help an attacker plan, so they are not public.

- ``PARLOUR_METRICS_TOKEN``: Prometheus sends ``Authorization: Bearer <token>`` (compared in
  constant time); anything else gets 401.
- ``PARLOUR_METRICS_BIND``: ``parlour serve`` starts a second listener that serves only
  ``/metrics`` (:func:`metrics_app`), on an address the operator keeps private, and ``/metrics``
  leaves the main port. With a token too, the listener asks for it.
- Neither set: the main port answers only a client on this machine that came straight, not
  through a proxy: a loopback peer, no forwarding header (nginx on the same host connects from
  loopback for everyone, but says so in ``X-Forwarded-For``), and a ``Host`` of this site's
  own (loopback or allowed; a DNS-rebinding page in a local browser names its own host).
  Everyone else gets 403 saying how to open it.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from parlour.config import Settings
from parlour.links import LOOPBACK_HOSTS, allowed_hosts
from parlour.web.middleware.hosts import requested_host
from parlour.web.parts import parts

Endpoint = Callable[[Request], Awaitable[Response]]
_FORWARDING = ("x-forwarded-for", "forwarded", "x-real-ip")


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def guarded(endpoint: Endpoint, settings: Settings, *, loopback_only: bool) -> Endpoint:
    """``endpoint`` behind the token when one is set, else (if ``loopback_only``) behind the
    rule for direct local clients."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    expected = f"Bearer {token}".encode() if token else b""
    own_names = allowed_hosts(settings) | LOOPBACK_HOSTS

    async def metrics(request: Request) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, expected):
                return PlainTextResponse(
                    "/metrics needs the bearer token set in PARLOUR_METRICS_TOKEN.\n",
                    401,
                    headers={"www-authenticate": 'Bearer realm="metrics"'},
                )
        elif loopback_only:
            direct = not any(name in request.headers for name in _FORWARDING)
            peer = request.client.host if request.client else None
            local_host = requested_host(request.scope) in own_names
            if not (direct and _loopback(peer) and local_host):
                return PlainTextResponse(
                    "/metrics answers clients on this machine only. To scrape it from "
                    "elsewhere, set PARLOUR_METRICS_TOKEN or PARLOUR_METRICS_BIND "
                    "(docs/deployment.md).\n",
                    403,
                )
        return await endpoint(request)

    return metrics


def metrics_app(app: Starlette) -> Starlette:
    """The separate ``/metrics`` listener for ``app`` (same registry, same process)."""
    app_parts = parts(app)
    endpoint = guarded(app_parts.metrics.endpoint, app_parts.settings, loopback_only=False)
    return Starlette(routes=[Route("/metrics", endpoint)])


def serve_with_metrics_listener(app: Starlette, options: dict[str, object], bind: str) -> None:
    """Run ``app`` with uvicorn as ``options`` say, and :func:`metrics_app` on ``bind``
    (``HOST:PORT``), in this process and event loop, until a signal stops both."""
    import asyncio  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415 - only `parlour serve` needs the server

    host, _, port = bind.rpartition(":")
    main = uvicorn.Server(uvicorn.Config(app, **options))  # type: ignore[arg-type]
    side = uvicorn.Server(
        uvicorn.Config(
            metrics_app(app),
            host=host.removeprefix("[").removesuffix("]"),
            port=int(port),
            lifespan="off",  # the main app's lifespan opens (and closes) the storage it reads
            log_level=str(options.get("log_level", "info")),
            access_log=False,
        )
    )

    async def both() -> None:
        listener = asyncio.create_task(side.serve())
        try:
            await main.serve()
        finally:
            side.should_exit = True
            await listener

    asyncio.run(both())
