"""Run an app's lifespan and talk to it in-process."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route, Router

from parlour.config import load_settings
from parlour.services.ratelimit import Identity
from parlour.web.app import create_app
from parlour.web.forms import submitted
from parlour.web.parts import core, parts
from parlour.web.ratelimit import enforce

from support.salon import furnish


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan entered, and a client speaking to it without a socket."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


ADMIN = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"


@asynccontextmanager
async def staffed(tmp_path: Path) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """One salon on SQLite in ``tmp_path``, furnished (support.salon), with its admin
    (:data:`ADMIN`) logged in: the app, and the admin's client."""
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app) as staff:
        await furnish(parts(app).storage.kv)
        await core(app).accounts.create_user(ADMIN, "admin", ADMIN_PASSWORD)
        await log_in(staff, ADMIN, ADMIN_PASSWORD)
        yield app, staff


def page_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Route]]:
    """Every page route of an app with its full path, through the mounts of web/app.py (not
    the API's, which FastAPI serves)."""
    for route in routes:
        if isinstance(route, Mount) and isinstance(route.app, Router):
            yield from page_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route) and hasattr(route.endpoint, "__code__"):
            yield prefix + route.path, route


_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _TOKEN.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": form_token(page.text)},
    )


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, **fields: str
) -> httpx.Response:
    """Submit a form the way a browser does: load the page, then post with its token."""
    html = (await client.get(page)).text
    return await client.post(action, data={"csrf_token": form_token(html), **fields})


def with_attempt_route(app: Starlette, policy: str = "booking") -> Starlette:
    """The test app of the rate-limit issue: one route a policy guards, as bookings will be."""

    async def attempt(request: Request) -> JSONResponse:
        form = await submitted(request)
        await enforce(request, policy, Identity.email(form.text("email", 254)))
        return JSONResponse({"ok": True})

    app.router.routes.insert(0, Route("/attempt", attempt, methods=["POST"]))
    return app


class EventStream:
    """An open GET of a server-sent event stream, driven straight through ASGI (httpx would
    wait for the end of a response that never ends)."""

    def __init__(
        self, app: Starlette, path: str, cookies: httpx.Cookies, host: str = "testserver"
    ) -> None:
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        self._scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "headers": [
                (b"host", host.encode()),
                (b"cookie", cookie.encode()),
                (b"accept", b"text/event-stream"),
            ],
        }
        self._app = app
        self._chunks: asyncio.Queue[str] = asyncio.Queue()
        self._gone = asyncio.Event()
        self._started = asyncio.Event()
        self.status = 0
        self.last_data: object = None
        """The data of the event :meth:`next_event` last returned, as JSON."""
        self._buffer = ""
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventStream:
        async def receive() -> dict[str, object]:
            await self._gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                self.status = int(message["status"])  # type: ignore[call-overload]
                self._started.set()
            elif message["type"] == "http.response.body":
                self._chunks.put_nowait(bytes(message.get("body", b"")).decode())  # type: ignore[call-overload]

        self._task = asyncio.create_task(self._app(self._scope, receive, send))  # type: ignore[arg-type]
        async with asyncio.timeout(10):
            await self._started.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._gone.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=10)

    async def next_event(self, timeout: float = 10.0) -> str:
        """The name of the next event (comments such as keep-alives are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                if "\n\n" in self._buffer:
                    block, self._buffer = self._buffer.split("\n\n", 1)
                    lines = block.splitlines()
                    for line in lines:
                        if line.startswith("event: "):
                            data = [
                                ln.removeprefix("data: ") for ln in lines if ln.startswith("data: ")
                            ]
                            self.last_data = json.loads(data[0]) if data else None
                            return line.removeprefix("event: ")
                    continue
                self._buffer += await self._chunks.get()
