"""Links come from the configuration, never from the request; other hosts get 400 (issue 11.2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.links import Links, allowed_hosts
from parlour.web.app import create_app
from parlour.web.middleware.hosts import requested_host
from parlour.web.parts import parts

from support.processes import served
from support.salon import MASSAGE, at, client, furnish, upcoming_weekday
from support.web import running

ORIGIN = "https://book.example.com"


def body(n: int = 0) -> dict[str, str]:
    return {"treatment": MASSAGE.id, "start": at(10, day=upcoming_weekday()), **client(n)}


@pytest.fixture
async def behind_a_proxy(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An instance configured for https://book.example.com, reached through its proxy."""
    settings = load_settings(
        env_file=None, data_dir=tmp_path, public_origin=ORIGIN, allowed_hosts=""
    )
    app = create_app(settings)
    async with running(app) as http:
        await furnish(parts(app).storage.kv)
        http.base_url = httpx.URL("http://book.example.com")  # TLS ended at the proxy
        yield http


async def test_the_manage_link_uses_the_public_origin_not_the_request(
    behind_a_proxy: httpx.AsyncClient,
) -> None:
    made = await behind_a_proxy.post("/api/bookings", json=body())
    assert made.status_code == 201, made.text
    token = made.json()["manage_token"]
    assert made.json()["manage_url"] == f"{ORIGIN}/booking/{token}"

    ics = await behind_a_proxy.get(f"/booking/{token}/calendar.ics")
    assert ics.status_code == 200
    unfolded = ics.text.replace("\r\n ", "")
    assert f"URL:{ORIGIN}/booking/{token}\r\n" in unfolded
    assert f"{ORIGIN}/booking/{token}" in unfolded.split("DESCRIPTION:", 1)[1].split("\r\n")[0]
    assert "http://book.example.com" not in unfolded


@pytest.mark.parametrize(
    "host",
    ["evil.example", "book.example.com.evil.example", "evil.example:443", "", "book.example.co"],
    ids=["other", "suffix-trick", "with-port", "empty", "look-alike"],
)
async def test_a_request_for_another_host_gets_400_and_no_link(
    behind_a_proxy: httpx.AsyncClient, host: str
) -> None:
    made = await behind_a_proxy.post("/api/bookings", json=body(), headers={"host": host})
    assert made.status_code == 400
    assert made.headers["content-type"].startswith("text/plain")
    assert "PARLOUR_PUBLIC_ORIGIN" in made.text
    assert "evil" not in made.text  # the refusal does not echo what it was sent
    page = await behind_a_proxy.get("/", headers={"host": host})
    assert page.status_code == 400


async def test_machine_endpoints_answer_whatever_the_host(
    behind_a_proxy: httpx.AsyncClient,
) -> None:
    """A load balancer or an orchestrator probes an instance by its own address."""
    for path in ("/healthz", "/readyz"):
        answer = await behind_a_proxy.get(path, headers={"host": "10.1.2.3:8000"})
        assert answer.status_code == 200, path


async def test_hosts_listed_in_allowed_hosts_are_answered(tmp_path: Path) -> None:
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path,
        public_origin=ORIGIN,
        allowed_hosts="www.book.example.com, 10.0.0.5",
    )
    app = create_app(settings)
    async with running(app) as http:
        for host in ("book.example.com", "www.book.example.com", "10.0.0.5:80", "BOOK.example.com"):
            assert (await http.get("/", headers={"host": host})).status_code == 200, host
        assert (await http.get("/", headers={"host": "testserver"})).status_code == 400


@pytest.fixture
async def default_app(tmp_path: Path) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """Nothing configured: one instance on the machine it runs on."""
    app = create_app(load_settings(env_file=None, data_dir=tmp_path, allowed_hosts=""))
    async with running(app) as http:
        await furnish(parts(app).storage.kv)
        yield app, http


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("localhost:8000", 200),
        ("localhost", 200),
        ("127.0.0.1:31337", 200),
        ("[::1]:8000", 200),
        ("LocalHost:1", 200),
        ("evil.example", 400),
        ("localhost.evil.example", 400),
        ("127.0.0.2", 400),
        ("[::1", 400),
        ("localhost:http", 400),
        ("testserver", 400),
    ],
)
async def test_with_nothing_set_loopback_names_at_any_port_are_answered(
    default_app: tuple[Starlette, httpx.AsyncClient], host: str, status: int
) -> None:
    _, http = default_app
    assert (await http.get("/treatments", headers={"host": host})).status_code == status


async def test_with_nothing_set_links_use_the_address_served_on(
    default_app: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, http = default_app
    made = await http.post("/api/bookings", json=body(), headers={"host": "localhost:9999"})
    assert made.status_code == 201, made.text
    assert made.json()["manage_url"].startswith("http://127.0.0.1:8000/booking/")


async def test_parlour_serve_links_use_its_port(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path / "data", allowed_hosts="")
    app = create_app(settings)
    async with running(app):
        await furnish(parts(app).storage.kv)
    env = {"PARLOUR_DATA_DIR": str(tmp_path / "data"), "PARLOUR_ALLOWED_HOSTS": ""}
    async with served(tmp_path, env) as base, httpx.AsyncClient(base_url=base) as http:
        made = await http.post("/api/bookings", json=body())
        assert made.status_code == 201, made.text
        assert made.json()["manage_url"].startswith(f"{base}/booking/")
        refused = await http.get("/", headers={"host": "evil.example"})
        assert refused.status_code == 400


LOOPBACK = {"localhost", "127.0.0.1", "[::1]"}


@pytest.mark.parametrize(
    ("settings", "origin", "hosts"),
    [
        ({}, "http://127.0.0.1:8000", LOOPBACK),
        ({"host": "0.0.0.0", "port": 80}, "http://127.0.0.1:80", LOOPBACK),
        ({"host": "::1"}, "http://[::1]:8000", LOOPBACK),
        ({"host": "192.0.2.7"}, "http://192.0.2.7:8000", {*LOOPBACK, "192.0.2.7"}),
        ({"public_origin": "https://Book.Example.com"}, ORIGIN, {"book.example.com"}),
        (
            {"public_origin": "http://[2001:db8::1]", "allowed_hosts": "a.example,[2001:db8::2]"},
            "http://[2001:db8::1]",
            {"[2001:db8::1]", "a.example", "[2001:db8::2]"},
        ),
    ],
    ids=["default", "wildcard", "ipv6-loopback", "lan-address", "origin", "ipv6-origin"],
)
def test_the_origin_and_the_hosts_follow_the_settings(
    tmp_path: Path, settings: dict[str, Any], origin: str, hosts: set[str]
) -> None:
    loaded = load_settings(env_file=None, data_dir=tmp_path, **{"allowed_hosts": "", **settings})
    assert Links.from_settings(loaded).origin == origin
    assert allowed_hosts(loaded) == hosts
    assert Links.from_settings(loaded).manage("a/b") == f"{origin}/booking/a%2Fb"


def test_allowed_hosts_refuses_what_is_not_a_host_name(tmp_path: Path) -> None:
    from parlour.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="PARLOUR_ALLOWED_HOSTS"):
        load_settings(env_file=None, data_dir=tmp_path, allowed_hosts="https://a.example/")


@pytest.mark.parametrize(
    ("header", "host"),
    [
        (b"example.com", "example.com"),
        (b"Example.COM:8443", "example.com"),
        (b"example.com.", "example.com"),
        (b"[::1]:80", "[::1]"),
        (b"[0:0::1]", "[::1]"),
        (b"[::1]x", None),
        (b"example.com:80:80", None),
        (b"", None),
    ],
)
def test_the_host_header_is_read_without_its_port(header: bytes, host: str | None) -> None:
    assert requested_host({"headers": [(b"host", header)]}) == host
