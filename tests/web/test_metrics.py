"""/metrics, request ids and JSON logs."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from parlour.config import Settings, load_settings
from parlour.logs import JsonFormatter, request_id
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.redis_server import RedisServer
from support.salon import MASSAGE, furnish, upcoming_weekday
from support.web import log_in, running


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` with exactly these ``labels``, parsed from /metrics."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    raise AssertionError(f"{name} {labels} not in /metrics")


async def test_requests_sessions_and_limits_are_counted(settings: Settings) -> None:
    app = create_app(settings)
    async with running(app) as client:
        await furnish(parts(app).storage.kv)
        await core(app).accounts.create_user("s@example.com", "staff", "correct horse battery")
        await client.get(f"/book/{MASSAGE.id}", params={"date": upcoming_weekday().isoformat()})
        await client.get("/no-such-page")
        await log_in(client, "s@example.com", "correct horse battery")
        await client.get("/admin")
        text = (await client.get("/metrics")).text
    assert (
        sample(
            text,
            "parlour_http_requests_total",
            route="/book/{treatment_id}",
            method="GET",
            status="200",
        )
        == 1
    )
    assert (
        sample(text, "parlour_http_requests_total", route="unmatched", method="GET", status="404")
        == 1
    )
    assert sample(text, "parlour_http_request_seconds_count", route="/admin") == 1
    assert sample(text, "parlour_session_operation_seconds_count", operation="create") == 1
    assert sample(text, "parlour_session_operation_seconds_count", operation="load") >= 1
    assert (
        sample(text, "parlour_ratelimit_decisions_total", policy="login", outcome="admitted") == 1
    )
    assert "no-such-page" not in text  # routes by template only: labels stay bounded


async def test_two_apps_in_one_process_keep_their_own_registry(tmp_path: Path) -> None:
    one = create_app(load_settings(env_file=None, data_dir=tmp_path / "one"))
    two = create_app(load_settings(env_file=None, data_dir=tmp_path / "two"))
    async with running(one) as first, running(two) as second:
        await first.get("/healthz")
        assert (await second.get("/metrics")).status_code == 200
        text = (await first.get("/metrics")).text
    assert (
        sample(text, "parlour_http_requests_total", route="/healthz", method="GET", status="200")
        == 1
    )


@pytest.mark.redis
async def test_redis_memory_clients_and_pool_and_an_outage(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path, redis_url=private_redis.url)
    app = create_app(settings)
    async with running(app) as client:
        await client.get("/readyz")
        text = (await client.get("/metrics")).text
        assert sample(text, "parlour_redis_up") == 1
        assert sample(text, "parlour_redis_used_memory_bytes") > 0
        assert sample(text, "parlour_redis_used_memory_peak_bytes") > 0
        assert sample(text, "parlour_redis_connected_clients") >= 1
        assert sample(text, "parlour_redis_pool_connections", state="idle") >= 1
        private_redis.stop()
        down = await client.get("/metrics")
        assert down.status_code == 200
        assert sample(down.text, "parlour_redis_up") == 0


async def test_every_answer_carries_a_request_id(settings: Settings) -> None:
    async with running(create_app(settings)) as client:
        fresh = await client.get("/healthz")
        kept = await client.get("/healthz", headers={"x-request-id": "edge-1234abcd"})
        replaced = await client.get("/healthz", headers={"x-request-id": "<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    assert kept.headers["x-request-id"] == "edge-1234abcd"
    assert replaced.headers["x-request-id"] != "<script>"


def test_json_logs_are_one_object_per_line_with_the_request_id() -> None:
    record = logging.LogRecord(
        "parlour.test", logging.WARNING, __file__, 1, "slot %s taken", ("10:00",), None
    )
    token = request_id.set("abc123")
    try:
        line = JsonFormatter().format(record)
    finally:
        request_id.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "slot 10:00 taken"
    assert entry["level"] == "warning"
    assert entry["request_id"] == "abc123"
    assert "\n" not in line
