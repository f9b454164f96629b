"""/metrics is not public: a bearer token, a listener of its own, or local clients only (11.7)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.web.app import create_app

from support.processes import serving
from support.redis_server import free_port
from support.web import running

TOKEN = "a-metrics-token-of-some-length"


def client_from(app: Starlette, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def with_token(tmp_path: Path) -> AsyncIterator[Starlette]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path, metrics_token=TOKEN))
    async with running(app):
        yield app


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token-of-the-same-size!", f"bearer {TOKEN}x", TOKEN],
    ids=["none", "empty", "no-token", "wrong", "longer", "no-scheme"],
)
async def test_with_a_token_anything_else_gets_401(
    with_token: Starlette, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    async with client_from(with_token, "127.0.0.1") as local:
        answer = await local.get("/metrics", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert "parlour_" not in answer.text


async def test_with_the_token_prometheus_scrapes_from_anywhere(with_token: Starlette) -> None:
    async with client_from(with_token, "198.51.100.7") as remote:
        answer = await remote.get(
            "/metrics", headers={"authorization": f"Bearer {TOKEN}", "host": "10.0.0.5:8000"}
        )
    assert answer.status_code == 200
    assert "parlour_http_requests_total" in answer.text


@pytest.fixture
async def default(tmp_path: Path) -> AsyncIterator[Starlette]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app):
        yield app


async def test_with_nothing_set_a_local_client_reads_it(default: Starlette) -> None:
    for address in ("127.0.0.1", "::1"):
        async with client_from(default, address) as local:
            for host in ("localhost:8000", "127.0.0.1:8000", "testserver"):
                answer = await local.get("/metrics", headers={"host": host})
                assert answer.status_code == 200, (address, host)
                assert "parlour_http_requests_total" in answer.text


@pytest.mark.parametrize(
    ("address", "headers"),
    [
        ("203.0.113.9", {}),
        ("10.0.0.2", {}),
        ("127.0.0.1", {"x-forwarded-for": "203.0.113.9"}),  # nginx on this host, for a visitor
        ("127.0.0.1", {"forwarded": "for=203.0.113.9"}),
        ("127.0.0.1", {"x-real-ip": "203.0.113.9"}),
        ("127.0.0.1", {"host": "rebound.evil.example"}),  # DNS rebinding from a local browser
    ],
    ids=["internet", "lan", "through-nginx", "forwarded", "real-ip", "rebinding"],
)
async def test_with_nothing_set_everyone_else_gets_403(
    default: Starlette, address: str, headers: dict[str, str]
) -> None:
    async with client_from(default, address) as other:
        answer = await other.get("/metrics", headers=headers)
    assert answer.status_code == 403
    assert "PARLOUR_METRICS_TOKEN" in answer.text
    assert "parlour_" not in answer.text.replace("PARLOUR_", "")


async def test_a_metrics_listener_serves_them_apart_from_the_site(tmp_path: Path) -> None:
    listener = free_port()
    env = {
        "PARLOUR_DATA_DIR": str(tmp_path / "data"),
        "PARLOUR_METRICS_BIND": f"127.0.0.1:{listener}",
    }
    async with serving(tmp_path, env) as (base, process):
        async with httpx.AsyncClient(base_url=base) as site:
            assert (await site.get("/metrics")).status_code == 404
            assert (await site.get("/treatments")).status_code == 200
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{listener}") as scraper:
            scraped = await scraper.get("/metrics")
            assert scraped.status_code == 200
            # The same registry as the site's: its requests are counted here.
            assert 'route="/treatments"' in scraped.text
            assert (await scraper.get("/treatments")).status_code == 404
        process.terminate()
        async with asyncio.timeout(15):
            await process.wait()
    with pytest.raises(httpx.TransportError):  # the listener went with the process
        async with httpx.AsyncClient() as late:
            await late.get(f"http://127.0.0.1:{listener}/metrics")


def test_a_metrics_listener_needs_one_worker(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "parlour", "serve", "--workers", "2"],
        env={"PARLOUR_METRICS_BIND": "127.0.0.1:9", "PARLOUR_DATA_DIR": str(tmp_path), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "PARLOUR_METRICS_BIND needs --workers 1" in done.stderr
