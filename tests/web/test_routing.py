"""The indexed router picks, for every request, the route Starlette's linear scan picks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

from parlour.config import load_settings
from parlour.web.app import create_app
from parlour.web.routing import IndexedRouter

from support.web import running


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> IndexedRouter:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path_factory.mktemp("routing")))
    assert isinstance(app.router, IndexedRouter)
    return app.router


def _scope(path: str, method: str) -> Scope:
    return {"type": "http", "path": path, "root_path": "", "method": method}


def _first(routes: list[BaseRoute] | tuple[BaseRoute, ...], scope: Scope) -> BaseRoute | None:
    """The route Starlette's loop hands the request to: the first full match, else the first
    partial one (a 405)."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def _known_paths(router: IndexedRouter) -> list[str]:
    paths = []
    for route in router.routes:
        path = getattr(route, "path", "")
        filled = path.replace("{", "x").replace("}", "").replace(":path", "")
        paths += [filled or "/", filled + "/", filled + "/more", filled.upper() or "/"]
    return paths


segments = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_.0123456789{}", max_size=12)


@given(
    path=st.one_of(
        st.sampled_from(["/", "//", "/api", "/api/", "/static/x.css", "/admin", "/admin/"]),
        st.lists(segments, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    ),
    method=st.sampled_from(["GET", "POST", "DELETE"]),
)
def test_a_generated_path_goes_where_starlette_would_send_it(
    router: IndexedRouter, path: str, method: str
) -> None:
    scope = _scope(path, method)
    assert _first(router._candidates(scope), scope) is _first(router.routes, scope)


async def _endpoint(request: object) -> None:
    raise AssertionError("not called")


MIXED = IndexedRouter(
    [
        Route("/admin", _endpoint),
        Route("/{slug}", _endpoint, methods=["POST"]),
        Route("/admin/{id}", _endpoint),
        Mount("/files", routes=[Route("/{name}", _endpoint)]),
        Route("/pre-{code}/x", _endpoint),
        Mount("", routes=[Route("/late/{n}", _endpoint), Route("/", _endpoint)]),
    ]
)
"""Routes no segment index may skip: a parameter as the first segment, inside it, a root mount."""


@given(
    path=st.lists(
        st.sampled_from(["admin", "files", "pre-1", "x", "late", "3", ""]), max_size=3
    ).map(lambda parts: "/" + "/".join(parts)),
    method=st.sampled_from(["GET", "POST"]),
)
def test_routes_that_match_any_first_segment_are_always_tried(path: str, method: str) -> None:
    scope = _scope(path, method)
    assert _first(MIXED._candidates(scope), scope) is _first(MIXED.routes, scope)


def test_every_route_of_the_site_is_found_as_before(router: IndexedRouter) -> None:
    for path in _known_paths(router):
        for method in ("GET", "POST"):
            scope = _scope(path, method)
            assert _first(router._candidates(scope), scope) is _first(router.routes, scope), path


def test_a_route_added_after_the_app_was_built_is_found(router: IndexedRouter) -> None:
    async def endpoint(request: object) -> None:
        raise AssertionError("not called")

    added = Route("/admin/added-later", endpoint)
    scope = _scope("/admin/added-later", "GET")
    router._candidates(scope)  # indexed before the route exists
    router.routes.insert(0, added)
    try:
        assert _first(router._candidates(scope), scope) is added
    finally:
        router.routes.remove(added)


async def test_the_site_answers_unknown_paths_and_wrong_methods_as_starlette_does(
    tmp_path: Path,
) -> None:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path, allowed_hosts="testserver"))
    async with running(app) as client:
        assert (await client.get("/no-such-page")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.delete("/healthz")).status_code == 405
        assert (await client.get("/api/no-such-thing")).status_code == 404
