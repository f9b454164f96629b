"""The ``parlour`` command as a user runs it: a separate process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from parlour.cli.serve import workers_warning
from parlour.config import load_settings

from support.processes import served, serving
from support.redis_server import free_port
from support.web import log_in

COMMANDS = ["serve", "check"]
ALL_COMMANDS = [*COMMANDS, "create-user", "ratelimit", "audit", "two-factor"]


def parlour(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parlour", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "command", [[], *([c] for c in ALL_COMMANDS)], ids=lambda c: " ".join(c) or "parlour"
)
def test_every_command_has_help(command: list[str], tmp_path: Path) -> None:
    result = parlour(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "usage: parlour" in result.stdout


def test_check_on_defaults_connects_to_both_backends(tmp_path: Path) -> None:
    result = parlour("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sessions     memory" in result.stdout
    assert "bookings     sqlite" in result.stdout
    assert "ok   sqlite (data/parlour.db)" in result.stdout
    assert (tmp_path / "data" / "parlour.db").exists()


def test_check_fails_with_one_line_per_unreachable_backend(tmp_path: Path) -> None:
    port = free_port()
    result = parlour(
        "check", cwd=tmp_path, env={"REDIS_URL": f"redis://:topsecret@127.0.0.1:{port}/0"}
    )
    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if "FAIL" in line]
    assert len(failures) == 1
    assert f"Redis at 127.0.0.1:{port} refused" in failures[0]
    assert "topsecret" not in result.stdout + result.stderr


def test_bad_configuration_stops_every_command_with_the_variable_named(tmp_path: Path) -> None:
    for command in COMMANDS:
        result = parlour(command, cwd=tmp_path, env={"PARLOUR_PORT": "eighty"})
        assert result.returncode == 2
        assert "PARLOUR_PORT='eighty' is not valid" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_serve_answers_on_the_port_it_was_given(tmp_path: Path, workers: str) -> None:
    async with served(tmp_path, {}, "--workers", workers) as base, httpx.AsyncClient() as http:
        response = await http.get(f"{base}/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.redis
async def test_ratelimit_show_and_clear_unblock_a_client(redis_url: str, tmp_path: Path) -> None:
    from parlour.config import load_settings
    from parlour.web.app import create_app

    from support.web import running, with_attempt_route

    env = {"REDIS_URL": redis_url, "PARLOUR_DATA_DIR": str(tmp_path / "data")}
    settings = load_settings(env_file=None, redis_url=redis_url, data_dir=tmp_path / "data")
    # The commands run beside the app, off its event loop: the app goes on serving meanwhile.
    async with running(with_attempt_route(create_app(settings))) as client:
        for _ in range(3):
            await client.post("/attempt", data={"email": "Zoe@example.com"})
        assert (await client.post("/attempt", data={"email": "zoe@example.com"})).status_code == 429

        shown = await asyncio.to_thread(
            parlour, "ratelimit", "show", "--email", "zoe@example.com", cwd=tmp_path, env=env
        )
        assert shown.returncode == 0, shown.stderr
        assert (
            "booking, this e-mail address: 3/3 used in 3/15 minutes, blocked for 15 minutes"
            in shown.stdout
        )
        assert "login, this account from addresses it does not know: 0/100 used" in shown.stdout

        cleared = await asyncio.to_thread(
            parlour,
            "ratelimit",
            "clear",
            "--email",
            "zoe@example.com",
            "--policy",
            "booking",
            cwd=tmp_path,
            env=env,
        )
        assert cleared.stdout.strip() == "booking, this e-mail address: cleared"
        # the e-mail is free, but the client's IP has its own full window: still refused
        assert (await client.post("/attempt", data={"email": "zoe@example.com"})).status_code == 429
        await asyncio.to_thread(
            parlour, "ratelimit", "clear", "--ip", "127.0.0.1", cwd=tmp_path, env=env
        )
        assert (await client.post("/attempt", data={"email": "zoe@example.com"})).status_code == 200
    assert (
        "booking, this e-mail address: 1/3 used"
        in (
            await asyncio.to_thread(
                parlour, "ratelimit", "show", "--email", "zoe@example.com", cwd=tmp_path, env=env
            )
        ).stdout
    )


def test_ratelimit_explains_where_memory_windows_live(tmp_path: Path) -> None:
    result = parlour("ratelimit", "show", "--ip", "192.0.2.1", cwd=tmp_path)
    assert result.returncode == 1
    assert "memory of the running process" in result.stderr


def create_user(
    cwd: Path, email: str, password: str, role: str = "admin"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "parlour",
            "create-user",
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
        ],
        cwd=cwd,
        input=f"{password}\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_create_user_reads_the_password_from_stdin_only(tmp_path: Path) -> None:
    created = create_user(tmp_path, "Owner@Example.com", "a long enough password")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "Created admin account owner@example.com."
    assert "a long enough password" not in created.stdout + created.stderr
    again = create_user(tmp_path, "owner@example.com", "a long enough password")
    assert again.returncode == 1
    assert "already an account" in again.stderr
    weak = create_user(tmp_path, "second@example.com", "short")
    assert weak.returncode == 1
    assert "at least 10 characters" in weak.stderr
    no_terminal = parlour(
        "create-user", "--email", "x@example.com", "--role", "staff", cwd=tmp_path
    )
    assert no_terminal.returncode == 2
    assert "--password-stdin" in no_terminal.stderr
    bad_role = parlour("create-user", "--email", "x@example.com", "--role", "owner", cwd=tmp_path)
    assert bad_role.returncode == 2


async def test_a_user_created_on_the_command_line_can_log_in(tmp_path: Path) -> None:
    from parlour.config import load_settings
    from parlour.web.app import create_app

    from support.web import log_in, running

    made = await asyncio.to_thread(
        create_user, tmp_path, "zoe@example.com", "a long enough password", "staff"
    )
    assert made.returncode == 0, made.stderr
    app = create_app(load_settings(env_file=None, data_dir=tmp_path / "data"))
    async with running(app) as client:
        assert (
            await log_in(client, "zoe@example.com", "a long enough password")
        ).status_code == 303
        assert "zoe@example.com (reception)" in (await client.get("/admin")).text


def test_serve_warns_when_workers_would_each_keep_their_own_sessions(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "parlour", "serve", "--workers", "2", "--port", str(free_port())],
        cwd=tmp_path,
        env={**os.environ, "PARLOUR_DATA_DIR": str(tmp_path / "data")},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    with server.stderr:
        try:
            first = server.stderr.readline()  # printed before uvicorn starts
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert first.startswith("parlour: warning: sessions and ratelimit live in each worker")
    assert "set REDIS_URL" in first


def test_no_warning_for_one_worker_or_shared_stores() -> None:
    alone = load_settings(env_file=None)
    assert workers_warning(alone, 1) is None
    shared = load_settings(env_file=None, redis_url="redis://127.0.0.1:6379/0")
    assert workers_warning(shared, 4) is None
    half = load_settings(env_file=None, sessions_backend="sqlite")
    assert workers_warning(half, 2) is not None
    assert "ratelimit live" in str(workers_warning(half, 2))


async def _slow_client(port: int, first: bytes, drip: bytes) -> bytes:
    """Connect, send ``first``, then ``drip`` a byte every 0.1 s (a slow client's pace) until
    the server closes the connection; returns what the server answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first)

    async def dripping() -> None:
        for byte in itertools.cycle(drip):
            await asyncio.sleep(0.1)
            writer.write(bytes([byte]))
            await writer.drain()

    dripper = asyncio.create_task(dripping()) if drip else None
    answer = b""
    try:
        while chunk := await reader.read(4096):
            answer += chunk
    except ConnectionResetError:
        pass
    finally:
        writer.close()  # first: a second cancellation must not leave the socket open
        if dripper is not None:
            dripper.cancel()
            await asyncio.gather(dripper, return_exceptions=True)
    return answer


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_serve_cuts_off_clients_whose_request_arrives_too_slowly(
    tmp_path: Path, workers: str
) -> None:
    env = {"PARLOUR_REQUEST_HEADER_TIMEOUT": "1", "PARLOUR_REQUEST_BODY_TIMEOUT": "1"}
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    post = (
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    )
    async with served(tmp_path, env, "--workers", workers) as base, httpx.AsyncClient() as http:
        port = int(base.rsplit(":", 1)[1])
        slow = [
            *(asyncio.create_task(_slow_client(port, b"", b"")) for _ in range(10)),
            *(asyncio.create_task(_slow_client(port, head, b"X-Slow: 1\r\n")) for _ in range(10)),
            *(asyncio.create_task(_slow_client(port, post, b"a")) for _ in range(10)),
            # A second request on a kept-alive connection, whose head trickles.
            *(
                asyncio.create_task(_slow_client(port, head + b"\r\n" + head, b"X-Slow: 1\r\n"))
                for _ in range(10)
            ),
        ]
        try:
            # Served while the slow ones hold their sockets, and after they are cut off.
            assert (await http.get(f"{base}/healthz")).status_code == 200
            async with asyncio.timeout(30):  # a generous bound: each deadline is 1 s
                answers = await asyncio.gather(*slow)
            assert (await http.get(f"{base}/healthz")).status_code == 200
        finally:
            for client in slow:
                client.cancel()
            await asyncio.gather(*slow, return_exceptions=True)
    silent, heads, bodies, second = answers[:10], answers[10:20], answers[20:30], answers[30:]
    assert silent == [b""] * 10  # never began a request: closed without an answer
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in heads), heads[0]
    assert bodies == [b""] * 10  # closed; the app, reading the body, saw a hang-up
    for answer in second:
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert answer.count(b"HTTP/1.1 408 ") == 1, answer


DESK = "desk@example.com"
DESK_PASSWORD = "a long staff password"


async def _desk_feed_open(
    tmp_path: Path, env: dict[str, str], workers: str, *, accept: str
) -> None:
    """Serve, open the staff desk's live feed as a browser would, tell the server to stop (the
    feed still open), and wait for it to exit: the wait is the assertion (a generous bound
    turns a hang into a failure; it exits in about a second)."""
    made = await asyncio.to_thread(create_user, tmp_path, DESK, DESK_PASSWORD)
    assert made.returncode == 0, made.stderr
    async with (
        serving(tmp_path, env, "--workers", workers) as (base, process),
        httpx.AsyncClient(base_url=base, timeout=60) as http,
    ):
        assert (await log_in(http, DESK, DESK_PASSWORD)).status_code == 303
        async with http.stream("GET", "/admin/events", headers={"accept": accept}) as feed:
            chunks = feed.aiter_text()
            assert "event: hello" in await anext(chunks)
            process.terminate()
            async with asyncio.timeout(30):
                await process.wait()
            with contextlib.suppress(httpx.TransportError):
                async for _ in chunks:  # the stream was closed under the client: it ends
                    pass


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_serve_stops_at_once_with_a_staff_desk_open(tmp_path: Path, workers: str) -> None:
    """A live feed never ends: uvicorn waited for it for ever, and with it any restart or
    rolling deploy. Its connection is closed at once, whatever the grace (here ten minutes)."""
    env = {"PARLOUR_DATA_DIR": str(tmp_path / "data"), "PARLOUR_SHUTDOWN_GRACE": "600"}
    await _desk_feed_open(tmp_path, env, workers, accept="text/event-stream")


async def test_serve_ends_what_outlasts_the_grace_when_told_to_stop(tmp_path: Path) -> None:
    """Any other answer still being written when the grace runs out is ended (the feed, asked
    for without ``text/event-stream``, stands in for one that never finishes)."""
    env = {"PARLOUR_DATA_DIR": str(tmp_path / "data"), "PARLOUR_SHUTDOWN_GRACE": "1"}
    await _desk_feed_open(tmp_path, env, "1", accept="*/*")
