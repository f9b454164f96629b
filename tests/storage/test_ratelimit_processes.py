"""Exactness across instances: four processes, a hundred concurrent attempts each, one Redis."""

from __future__ import annotations

import asyncio

import pytest

from support.processes import go, start_python_module

pytestmark = pytest.mark.redis


@pytest.mark.parametrize("run", range(3), ids=lambda run: f"run-{run}")
async def test_four_processes_admit_exactly_the_limit_between_them(
    redis_url: str, run: int
) -> None:
    workers = [
        await start_python_module("support.ratelimit_worker", redis_url, "100") for _ in range(4)
    ]
    await asyncio.gather(*(go(worker) for worker in workers))
    admitted = []
    for worker in workers:
        out, _ = await worker.communicate()
        admitted.append(int(out))
    assert sum(admitted) == 3, f"admitted per process: {admitted}"
