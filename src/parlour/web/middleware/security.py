"""Response headers that tell browsers what this site never does, in one pure ASGI middleware.

- ``Content-Security-Policy``: scripts, styles, images and connections from this origin only;
  no inline script, no inline style (``style=`` attributes included), no plugins, no framing,
  forms post only here. Templates carry no inline code, and the real-browser journeys fail on
  any violation a page reports (tests/browser). Photos are served by Parlour itself, so
  ``img-src 'self'`` is all the pages need.
- ``/api/docs`` gets the same policy plus ``img-src data:``: Swagger UI's stylesheet embeds
  its icons as ``data:`` SVG images (Chromium reported exactly that, and nothing else, under
  the pages' policy while the docs were opened, an operation expanded and run). Its scripts and
  styles are files served from the ``swagger-ui-bundle-v2`` package: nothing from outside.
- ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``; ``nosniff``;
  ``Referrer-Policy: same-origin`` (a manage link's token never leaves in a Referer; not
  ``no-referrer``, under which browsers send ``Origin: null`` with same-site forms and the
  CSRF check refuses them); a ``Permissions-Policy`` that turns off every powerful feature
  (Parlour uses none); ``Cross-Origin-Opener-Policy: same-origin``.
- ``Strict-Transport-Security`` (one year, this host only: subdomains may be other services)
  when ``PARLOUR_PUBLIC_ORIGIN`` is https.
- ``Cache-Control: no-store`` on every response that does not state its own caching: staff,
  account and manage pages, the API and every form page with a CSRF token are never kept by a
  browser or a shared cache. Static files (``templating.CachedStatic``) and photos state a year,
  ``immutable``: their addresses change whenever their content does.

A route that sets one of these headers itself keeps its own value.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_DOCS_POLICY = _PAGE_POLICY.replace("img-src 'self'", "img-src 'self' data:")
DOCS_PATH = "/api/docs"
_PERMISSIONS = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)
HSTS = "max-age=31536000"


def _raw(pairs: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs.items()]


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        common = {
            "x-frame-options": "DENY",
            "x-content-type-options": "nosniff",
            "referrer-policy": "same-origin",
            "permissions-policy": _PERMISSIONS,
            "cross-origin-opener-policy": "same-origin",
            "cache-control": "no-store",
        }
        if https:
            common["strict-transport-security"] = HSTS
        # Built once: per request the middleware only appends what the route did not set.
        self._pages = _raw({"content-security-policy": _PAGE_POLICY, **common})
        self._docs = _raw({"content-security-policy": _DOCS_POLICY, **common})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._docs if scope["path"] == DOCS_PATH else self._pages

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in extra if pair[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
