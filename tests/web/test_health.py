from __future__ import annotations

import os
from pathlib import Path

import pytest

from parlour.config import Settings, load_settings
from parlour.web.app import create_app

from support.redis_server import RedisServer
from support.web import running


async def test_healthz_and_home(settings: Settings) -> None:
    async with running(create_app(settings)) as client:
        answer = (await client.get("/healthz")).json()
        assert answer["status"] == "ok"
        assert answer["instance"].endswith(f":{os.getpid()}")  # which instance answered
        home = await client.get("/")
        assert home.status_code == 200
        assert "Parlour" in home.text


async def test_readyz_reports_every_backend(settings: Settings) -> None:
    async with running(create_app(settings)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "backends": {"memory": "ok", "sqlite": "ok"}}


@pytest.mark.redis
async def test_readyz_names_a_backend_that_is_down_and_recovers(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    settings = load_settings(env_file=None, redis_url=private_redis.url, data_dir=tmp_path)
    async with running(create_app(settings)) as client:
        assert (await client.get("/readyz")).status_code == 200
        private_redis.stop()
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["status"] == "unavailable"
        assert "refused" in down.json()["backends"]["redis"]
        assert down.json()["backends"]["sqlite"] == "ok"
        private_redis.start()
        assert (await client.get("/readyz")).status_code == 200
