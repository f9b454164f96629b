"""The site's routes, mounted per first path segment, answer every request as the same routes in
one flat list would: the same handler, the same 405, slash redirect or 404."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from parlour.config import load_settings
from parlour.web.app import create_app
from parlour.web.staff.guards import StaffOnly

from support.web import running


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Starlette:
    return create_app(load_settings(env_file=None, data_dir=tmp_path_factory.mktemp("routing")))


def _stub(name: str) -> Route:
    """A handler that says which route it stands for."""

    async def answer(request: Request) -> Response:
        return PlainTextResponse(name)

    return Route("/", answer)  # only its app is used


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse(self.name)(scope, receive, send)


def _mounted_and_flat(routes: Sequence[BaseRoute]) -> tuple[list[BaseRoute], list[BaseRoute]]:
    """The site's routing with a stub for each handler, and the same routes in one flat list
    (full paths, site order): what the site routed as before the mounts."""
    mounted: list[BaseRoute] = []
    flat: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Mount) and isinstance(route.app, Router):
            inner: list[BaseRoute] = []
            for child in route.routes:
                assert isinstance(child, Route)
                full = route.path + child.path
                methods = sorted(child.methods) if child.methods else None
                if not hasattr(child.endpoint, "__code__"):  # the mount's own slash redirect
                    inner.append(child)
                    continue
                stub = _stub(f"{methods} {full}")
                inner.append(Route(child.path, stub.endpoint, methods=methods))
                flat.append(Route(full, stub.endpoint, methods=methods))
            mounted.append(Mount(route.path, routes=inner))
        elif isinstance(route, Mount):
            mounted.append(Mount(route.path, app=_Named(f"mount {route.path}")))
            flat.append(Mount(route.path, app=_Named(f"mount {route.path}")))
        else:
            assert isinstance(route, Route)
            methods = sorted(route.methods) if route.methods else None
            if not hasattr(route.endpoint, "__code__"):  # a segment's own 404
                mounted.append(route)
                continue
            stub = _stub(f"{methods} {route.path}")
            mounted.append(Route(route.path, stub.endpoint, methods=methods))
            flat.append(Route(route.path, stub.endpoint, methods=methods))
    return mounted, flat


Apps = tuple[Starlette, Starlette]


@pytest.fixture(scope="module")
def clients(site: Starlette) -> Apps:
    mounted, flat = _mounted_and_flat(site.routes)
    return Starlette(routes=mounted), Starlette(routes=flat)


def _answer(app: Starlette, method: str, path: str) -> tuple[int, str, str]:
    """Status, body and ``location`` of ``app``'s answer (no lifespan, no server)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("testserver", 80),
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    location = dict(start["headers"]).get(b"location", b"").decode()
    return start["status"], body.decode(), location


def _known_paths(site: Starlette) -> list[str]:
    _, flat = _mounted_and_flat(site.routes)
    paths = []
    for route in flat:
        path = getattr(route, "path", "")
        filled = path.replace("{", "x").replace("}", "").replace(":path", "")
        paths += [filled or "/", filled + "/", filled + "/more", filled.upper() or "/"]
    return paths


segments = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_.0123456789", max_size=12)


@settings(deadline=None)
@given(
    path=st.one_of(
        st.sampled_from(
            ["/", "/api", "/api/", "/static/x.css", "/admin", "/admin/", "/admin//", "/booking/"]
        ),
        st.lists(
            st.one_of(st.sampled_from(["admin", "book", "booking", "login", "gallery"]), segments),
            min_size=1,
            max_size=4,
        ).map(lambda parts: "/" + "/".join(parts)),
    ),
    method=st.sampled_from(["GET", "POST", "DELETE"]),
)
def test_a_generated_path_goes_where_one_flat_list_would_send_it(
    clients: Apps, path: str, method: str
) -> None:
    mounted, flat = clients
    assert _answer(mounted, method, path) == _answer(flat, method, path)


def test_every_route_of_the_site_is_found_as_before(site: Starlette, clients: Apps) -> None:
    mounted, flat = clients
    for path in _known_paths(site):
        for method in ("GET", "POST"):
            assert _answer(mounted, method, path) == _answer(flat, method, path), (method, path)


def test_every_route_under_admin_is_guarded(site: Starlette) -> None:
    """Every staff page checks who is asking before its handler runs (web/staff/guards.py)."""
    under = [
        route
        for mount in site.routes
        if isinstance(mount, Mount) and mount.path == "/admin"
        for route in mount.routes
        if isinstance(route, Route) and hasattr(route.endpoint, "__code__")
    ]
    landing = [r for r in site.routes if isinstance(r, Route) and r.path == "/admin"]
    assert len(under) > 40
    for route in [*under, *landing]:
        assert isinstance(route.app, StaffOnly), route.path


async def test_the_site_answers_unknown_paths_and_wrong_methods_as_starlette_does(
    tmp_path: Path,
) -> None:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path, allowed_hosts="testserver"))
    async with running(app) as client:
        assert (await client.get("/no-such-page")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.delete("/healthz")).status_code == 405
        assert (await client.get("/api/no-such-thing")).status_code == 404
        assert (await client.get("/booking")).status_code == 404
        assert (await client.get("/admin/no-such-page")).status_code == 404
        assert (await client.post("/admin/calendar")).status_code == 405
        moved = await client.get("/admin/")
        assert (moved.status_code, moved.headers["location"]) == (307, "http://testserver/admin")
