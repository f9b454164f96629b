"""Many salons (``PARLOUR_TENANCY=multi``): the ``Host`` header names the salon before anything
else runs.

- ``<slug>.<platform domain>`` or a salon's own domain: the request carries that salon's parts
  (``web.parts.SALON_PARTS``: its use cases, sessions, limiter, links), so every route, the
  session middleware and the limits below act for that salon alone;
- the bare platform domain: the platform's own pages (sign-up, the operator console);
- anything else, or a salon not yet confirmed: 404, never another salon's page;
- a suspended salon: 503 with a page saying it is not taking bookings; nothing of it is served
  (its staff cannot log in) and nothing of it is lost.

The machine endpoints (``/healthz``, ``/readyz``, ``/metrics``) are the instance's, not a salon's,
and answer at any host, as with one salon (``web/middleware/hosts.py``).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from parlour.errors import StorageUnavailable
from parlour.salons import Salons, SalonServices
from parlour.services.tenants import PLATFORM, Status, Tenants
from parlour.web.middleware.hosts import MACHINE_PATHS, requested_host
from parlour.web.parts import SALON_PARTS, Parts

log = logging.getLogger(__name__)


class SalonHosts:
    def __init__(
        self,
        app: ASGIApp,
        *,
        tenants: Tenants,
        salons: Salons,
        platform: ASGIApp,
        parts_of: Callable[[SalonServices], Parts],
    ) -> None:
        self.app = app
        self.tenants = tenants
        self.salons = salons
        self.platform = platform
        self.parts_of = parts_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in MACHINE_PATHS:
            await self.app(scope, receive, send)
            return
        host = requested_host(scope)
        try:
            found = None if host is None else await self.tenants.resolve(host)
        except StorageUnavailable as exc:
            log.warning("could not look up the salon of %r: %s", host, exc)
            await _page(scope, send, 503, "Please try again in a moment", _BUSY, retry=True)
            return
        if found is None:
            log.info("no salon at host %r", host)
            await _page(scope, send, 404, "No salon here", _NO_SALON)
            return
        if found == PLATFORM:
            await self.platform(scope, receive, send)
            return
        assert not isinstance(found, str)
        services = self.salons.services(found)
        if found.status is Status.SUSPENDED:
            text = _SUSPENDED.format(name=html.escape(found.name)) + await _contact(services)
            await _page(scope, send, 503, f"{found.name} is not taking bookings", text)
            return
        salon_parts = services.web
        if salon_parts is None:
            salon_parts = services.web = self.parts_of(services)
        scope[SALON_PARTS] = salon_parts
        await self.app(scope, receive, send)


_NO_SALON = (
    "<p>There is no salon at this address. Check the link you followed, or ask the salon "
    "for its booking address.</p>"
)
_SUSPENDED = (
    "<p>{name} is not taking bookings online at the moment. Your bookings are kept; please "
    "contact the salon directly.</p>"
)


async def _contact(services: SalonServices) -> str:
    """How to reach a suspended salon, from its own business details (none when it gave none,
    or its store does not answer: the page says the rest)."""
    try:
        business = await services.core.catalogue.business()
    except StorageUnavailable:
        return ""
    lines = []
    if business.phone:
        tel = "".join(c for c in business.phone if c.isdigit() or c == "+")
        lines.append(f'Phone: <a href="tel:{tel}">{html.escape(business.phone)}</a>')
    if business.email:
        address = html.escape(business.email)
        lines.append(f'E-mail: <a href="mailto:{address}">{address}</a>')
    if business.address:
        lines.append(f"Address: {html.escape(business.address)}")
    return "".join(f"<p>{line}</p>" for line in lines)


_BUSY = "<p>We could not find this salon just now. Please try again in a moment.</p>"


async def _page(
    scope: Scope, send: Send, status: int, title: str, body: str, *, retry: bool = False
) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    ).encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(page)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if retry or status == 503:
        headers.append((b"retry-after", b"30" if not retry else b"5"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": page})
