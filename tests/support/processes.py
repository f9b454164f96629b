"""Start helper processes for tests, with the test support modules importable."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

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
