"""Starlette's router, without trying every route on every request.

Starlette matches a request by trying each route in turn: with Parlour's 80-odd routes, a staff
page paid for about 28 failed regular-expression matches before its own (measured: a fifth of
the framework's time on a page that only reads the session). A route whose path starts with a
fixed segment (``/admin/...``, ``/api``) can only match a request whose path starts with that
same segment, so :class:`IndexedRouter` tries only the routes of the request's first segment
and those that could match any path (a parameter in the first segment, a root mount, a host),
in their original order. Whatever it does not find is handed to Starlette's own router, which
tries every route as before and answers with its slash redirect or 404: the answer for every
request is the one Starlette would give.
"""

from __future__ import annotations

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Scope, Send


def first_segment(path: str) -> str:
    """``"admin"`` for ``/admin/clients/3``; ``""`` for ``/``."""
    return path[1:].partition("/")[0]


def _fixed_segment(route: BaseRoute) -> str | None:
    """The first path segment every request ``route`` matches starts with; ``None`` if the
    route could match a request with any first segment."""
    if not isinstance(route, Route | Mount):
        return None
    segment = first_segment(route.path)
    if "{" in segment or (isinstance(route, Mount) and not segment):  # a parameter; a root mount
        return None
    return segment


class IndexedRouter(Router):
    _indexed: list[BaseRoute] | None = None
    _by_segment: dict[str, tuple[BaseRoute, ...]]
    _anywhere: tuple[BaseRoute, ...]

    def _candidates(self, scope: Scope) -> tuple[BaseRoute, ...]:
        if self._indexed != self.routes:  # routes may be added after the app is built
            self._index()
        segment = first_segment(get_route_path(scope))
        return self._by_segment.get(segment, self._anywhere)

    def _index(self) -> None:
        fixed = [(route, _fixed_segment(route)) for route in self.routes]
        self._anywhere = tuple(route for route, segment in fixed if segment is None)
        self._by_segment = {
            key: tuple(route for route, segment in fixed if segment in (key, None))
            for key in {segment for _, segment in fixed if segment is not None}
        }
        self._indexed = list(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        chosen: tuple[BaseRoute, Scope] | None = None  # the first full match, else partial (405)
        for route in self._candidates(scope):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                chosen = route, child_scope
                break
            if match is Match.PARTIAL and chosen is None:
                chosen = route, child_scope
        if chosen is None:  # no route: Starlette's own redirect to the other slash, or 404
            await super().app(scope, receive, send)
            return
        route, child_scope = chosen
        scope["route"] = route
        scope.update(child_scope)
        await route.handle(scope, receive, send)
