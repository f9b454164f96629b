"""The routes under a fixed first path segment, as one of Starlette's own mounts.

Starlette matches a request by trying each route in turn: with Parlour's 80-odd routes in one
list, a staff page paid for about 28 failed regular-expression matches before its own (measured:
a fifth of the framework's time on a page that only reads the session). A route whose path starts
with a fixed segment (``/admin/...``, ``/book/...``) can only match a request whose path starts
with that same segment, so web/app.py mounts each such group under its segment: a request tries
the twenty-odd entries of the top level, then only its own segment's routes.

A mount answers every path under it, where the flat list fell through to Starlette's slash
redirect. That redirect still happens inside a mount (``/admin/clients/`` to ``/admin/clients``),
except for the mount's own root: ``/admin/`` was redirected to the page ``/admin`` beside the
mount, so a segment that is also a page (``page=True``) keeps that redirect here; and a segment
that is not a page (``/booking``) stays a 404 rather than being redirected to its mount.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send


class _Slashes(Convertor[str]):
    """Nothing but slashes: ``/admin/`` and ``/admin//`` were both redirected to ``/admin``."""

    regex = "/*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _WithoutSlash:
    """Starlette's slash redirect (307, any method), to the page the mount sits beside."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        url = URL(scope=scope)
        await RedirectResponse(str(url.replace(path=url.path.rstrip("/"))))(scope, receive, send)


class _NotFound:
    """What Starlette's router answers when nothing matches (the app's 404 page)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise HTTPException(status_code=404)


def segment(path: str, routes: Sequence[BaseRoute], *, page: bool = False) -> list[BaseRoute]:
    """``routes`` (paths relative to ``path``) mounted under the fixed segment ``path``. With
    ``page``, ``path/`` is redirected to the page ``path`` the caller routes beside the mount;
    without, ``path`` itself stays a 404 (Starlette would redirect it to the mount's ``path/``)."""
    if page:
        # Registered here, not at import: Starlette's convertors are one process-wide table.
        register_url_convertor("slashes", _Slashes())
        return [Mount(path, routes=[*routes, Route("/{more:slashes}", _WithoutSlash())])]
    return [Route(path, _NotFound()), Mount(path, routes=routes)]
