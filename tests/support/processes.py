"""Start helper processes for tests, with the test support modules importable."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from support.redis_server import free_port

TESTS = Path(__file__).resolve().parent.parent


async def start_python_module(module: str, *args: str) -> asyncio.subprocess.Process:
    """``python -m module args`` with pipes on stdin and stdout; returns once it says ``ready``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    async with asyncio.timeout(30):
        line = await process.stdout.readline()
    if line.strip() != b"ready":
        await process.wait()
        raise AssertionError(f"{module} failed to start (exit {process.returncode}): {line!r}")
    return process


async def go(process: asyncio.subprocess.Process) -> None:
    assert process.stdin is not None
    process.stdin.write(b"go\n")
    await process.stdin.drain()


@asynccontextmanager
async def served(cwd: Path, env: dict[str, str], *args: str) -> AsyncIterator[str]:
    """``parlour serve`` on a free port in its own process; its base URL once it answers."""
    async with serving(cwd, env, *args) as (base, _):
        yield base


@asynccontextmanager
async def serving(
    cwd: Path, env: dict[str, str], *args: str, port: int | None = None
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """As :func:`served`, with the process too, for tests that kill it."""
    port = port or free_port()
    log = cwd / f"parlour-{port}.log"  # a file, not a pipe: a chatty server never blocks on it
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "parlour",
            "serve",
            "--port",
            str(port),
            *args,
            cwd=cwd,
            env={**os.environ, **env},
            stderr=output,
            start_new_session=True,  # a group of its own: a kill takes its --workers too
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=2) as client:
            async with asyncio.timeout(30):
                while True:
                    if process.returncode is not None:
                        raise AssertionError(log.read_text(errors="replace")[-4000:])
                    try:
                        await client.get("/healthz")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.05)  # polling for the port to open
        yield base, process
    finally:
        await stop(process, log)


STOP_BOUND = 60.0
"""How long a server told to stop may take before the test fails (it stops in about a second;
``PARLOUR_SHUTDOWN_GRACE`` bounds what it waits for)."""


async def stop(process: asyncio.subprocess.Process, log: Path) -> None:
    """SIGTERM, then wait; a server still running after :data:`STOP_BOUND`, or a wait cut short
    (a test's timeout), is killed, so no server outlives its test to serve the next one's store."""
    if process.returncode is None:
        process.terminate()
    try:
        async with asyncio.timeout(STOP_BOUND):
            await process.wait()
    except TimeoutError:
        _kill_group(process)
        await process.wait()
        said = await asyncio.to_thread(log.read_text, errors="replace")
        raise AssertionError(
            f"parlour serve did not stop within {STOP_BOUND:.0f} s of SIGTERM:\n{said[-4000:]}"
        ) from None
    except BaseException:
        _kill_group(process)
        raise


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
