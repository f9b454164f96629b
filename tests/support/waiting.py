"""Wait on conditions, not on time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def eventually(
    condition: Callable[[], Awaitable[bool]], *, timeout: float = 10.0, what: str = "condition"
) -> None:
    """Return as soon as ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        await asyncio.sleep(0.01)


async def until(
    check: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition"
) -> None:
    """:func:`eventually` for a condition that needs no awaiting (state another task updates)."""

    async def holds() -> bool:
        return check()

    await eventually(holds, timeout=timeout, what=what)
