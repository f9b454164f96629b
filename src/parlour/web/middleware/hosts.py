"""Answer only requests addressed to this site: a ``Host`` that is not one of
:func:`parlour.links.allowed_hosts` gets 400 before anything else runs.

Links never follow the ``Host`` header (``parlour.links``), so this is defence in depth: a cache
in front keyed by ``Host`` cannot be poisoned through Parlour, and a DNS-rebinding page cannot
read an instance listening on loopback. The machine endpoints (``/healthz``, ``/readyz``,
``/metrics``) are exempt: load balancers, orchestrators and Prometheus address an instance by
its own IP and port, those endpoints write no links, and ``/metrics`` guards itself
(``web/metrics.py``).
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from parlour.links import host_name

log = logging.getLogger(__name__)

_REMEMBERED = 64
MACHINE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_REFUSAL = (
    b"This site does not answer to that host name. If you run it, set PARLOUR_PUBLIC_ORIGIN to "
    b"the address people use, or list the name in PARLOUR_ALLOWED_HOSTS.\n"
)


def requested_host(scope: Scope) -> str | None:
    """The host name of the request's ``Host`` header, without its port; ``None`` if it has
    none or it is malformed."""
    return host_of(_host_header(scope))


def _host_header(scope: Scope) -> bytes | None:
    return next((value for name, value in scope["headers"] if name == b"host"), None)


def host_of(raw: bytes | None) -> str | None:
    """The host name of a ``Host`` header's value, as :func:`requested_host` reads it."""
    if raw is None:
        return None
    text = raw.decode("latin-1").strip()
    if text.startswith("["):
        name, bracket, rest = text.partition("]")
        if not bracket:
            return None
        name, port = name + "]", rest.removeprefix(":")
        if rest and not rest.startswith(":"):
            return None
    else:
        name, _, port = text.partition(":")
    if port and not port.isdigit():
        return None
    return host_name(name) or None


class AllowedHosts:
    def __init__(self, app: ASGIApp, *, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts
        self._allowed: set[bytes | None] = set()
        """``Host`` headers already found allowed, as sent: parsing one costs more than the
        rest of this check (a few, as browsers and proxies write the site's name)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"] not in MACHINE_PATHS:
            raw = _host_header(scope)
            if raw not in self._allowed:
                host = host_of(raw)
                if host not in self.hosts:
                    log.info("refused a request for host %r", host)
                    await _refuse(scope, send)
                    return
                if len(self._allowed) < _REMEMBERED:
                    self._allowed.add(raw)
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(_REFUSAL)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _REFUSAL})
