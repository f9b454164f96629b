"""A client that hangs up in the middle of its request (issue 21, item 5): no 500, no traceback,
at most one debug line, counted as 499 in /metrics. In process, through every kind of body a
route reads (a form, a multipart form, JSON), and against a real `parlour serve` over raw sockets.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Message

from parlour.config import Settings
from parlour.web.app import create_app
from parlour.web.middleware.hang_ups import HUNG_UP
from parlour.web.parts import parts

from support.processes import serving
from support.salon import MASSAGE, furnish
from support.waiting import eventually

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=xyz"
HUNG_UP_REQUESTS = {  # path, content type, the first bytes of its body, the route counted
    "login form": ("/login", FORM, b"ema", "/login"),
    "forgotten password": ("/login/forgot", FORM, b"ema", "/login/forgot"),
    "booking details": (
        f"/book/{MASSAGE.id}/details",
        FORM,
        b"nam",
        "/book/{treatment_id}/details",
    ),
    "multipart form (an upload)": (
        "/login",
        MULTIPART,
        b'--xyz\r\nContent-Disposition: form-data; name="photo"; filename="a.png"\r\n\r\nab',
        "/login",
    ),
    "JSON API": ("/api/bookings", "application/json", b'{"na', "/api/bookings"),
}


def posts_by_status(metrics: str) -> dict[tuple[str, str], float]:
    """(route, status) of every POST counted in /metrics."""
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "parlour_http_requests_total" and sample.labels["method"] == "POST":
                key = (sample.labels["route"], sample.labels["status"])
                found[key] = found.get(key, 0) + sample.value
    return found


@pytest.mark.parametrize("case", list(HUNG_UP_REQUESTS))
async def test_a_hang_up_mid_body_is_counted_499_without_an_error(
    settings: Settings, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    path, content_type, start, route = HUNG_UP_REQUESTS[case]
    app = create_app(settings)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", content_type.encode()),
            (b"content-length", b"400"),
        ],
    }
    arriving: list[Message] = [
        {"type": "http.request", "body": start, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return arriving.pop(0) if arriving else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    caplog.set_level(logging.DEBUG)
    async with app.router.lifespan_context(app):
        await furnish(parts(app).storage.kv)
        caplog.clear()
        await app(scope, receive, send)  # raised ClientDisconnect before the fix
        hung_up = [r for r in caplog.records if "hung up" in r.getMessage()]
        assert [r.levelno for r in hung_up] == [logging.DEBUG]
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert not [r for r in caplog.records if r.exc_info]
        assert sent[0]["status"] == HUNG_UP
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            metrics = (await http.get("/metrics")).text
    assert posts_by_status(metrics) == {(route, str(HUNG_UP)): 1}


async def _hang_up(port: int, path: str, content_type: str, start: bytes) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        "Content-Length: 400\r\n\r\n"
    )
    writer.write(head.encode() + start)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_a_real_server_logs_no_traceback_and_counts_no_5xx_for_hang_ups(
    tmp_path: Path,
) -> None:
    env = {"PARLOUR_DATA_DIR": str(tmp_path / "data"), "PARLOUR_LOG_LEVEL": "debug"}
    rounds = 10
    async with serving(tmp_path, env) as (base, _), httpx.AsyncClient(base_url=base) as http:
        port = int(base.rsplit(":", 1)[1])
        for _ in range(rounds):
            for path, content_type, start, _ in HUNG_UP_REQUESTS.values():
                await _hang_up(port, path, content_type, start)
        expected = rounds * len(HUNG_UP_REQUESTS)

        async def all_counted() -> bool:
            counted = posts_by_status((await http.get("/metrics")).text)
            return sum(counted.values()) >= expected

        await eventually(all_counted, timeout=60, what=f"{expected} hang-ups counted")
        counted = posts_by_status((await http.get("/metrics")).text)
        log = (tmp_path / f"parlour-{port}.log").read_text(errors="replace")
    assert {status for _, status in counted} == {str(HUNG_UP)}, counted
    assert sum(counted.values()) == expected
    assert "Traceback" not in log
    assert "Exception in ASGI application" not in log
    assert log.count("hung up") <= expected  # at most one line each, at debug level
