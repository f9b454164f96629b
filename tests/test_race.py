"""Fifty clients, one slot, two app processes: exactly one booking, on SQLite, Redis and
PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from parlour.config import load_settings
from parlour.storage import Storage

from support.backends import params
from support.processes import served
from support.redis_topologies import redis_params, url_for
from support.salon import MASSAGE, at, client, furnish, upcoming_weekday

SECRET = "one secret for every instance of this test"


async def race(bases: list[str], start: str) -> Counter[int]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as http:

        async def attempt(n: int) -> int:
            response = await http.post(
                f"{bases[n % len(bases)]}/api/bookings",
                json={"treatment": MASSAGE.id, "start": start, **client(n)},
            )
            return response.status_code

        return Counter(await asyncio.gather(*(attempt(n) for n in range(50))))


@pytest.mark.parametrize("run", range(2), ids=lambda run: f"run-{run}")
@pytest.mark.parametrize("backend", ["sqlite", *redis_params(), *params(["postgres"])])
async def test_fifty_requests_across_two_processes_make_one_booking(
    backend: str, run: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {
        "PARLOUR_DATA_DIR": str(tmp_path / "data"),
        "PARLOUR_SECRET_KEY": SECRET,
        "PARLOUR_BOOKING_RATE_LIMIT": "1000/1 minute",
        "PARLOUR_LOG_LEVEL": "warning",
    }
    if backend == "postgres":
        env |= {"DATABASE_URL": request.getfixturevalue("postgres_url")}
        env |= {"PARLOUR_DATA_BACKEND": "postgres"}
    elif backend != "sqlite":
        env |= {"REDIS_URL": url_for(backend, request), "PARLOUR_DATA_BACKEND": "redis"}
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path / "data",
        redis_url=env.get("REDIS_URL"),
        database_url=env.get("DATABASE_URL"),
        data_backend=env.get("PARLOUR_DATA_BACKEND", "sqlite"),
    )
    async with Storage.from_settings(settings) as storage:
        await furnish(storage.kv)
    start = at(10, day=upcoming_weekday())
    async with served(tmp_path, env) as one, served(tmp_path, env) as two:
        outcomes = await race([one, two], start)
        async with httpx.AsyncClient() as http:
            found = (
                await http.get(
                    f"{one}/api/availability", params={"treatment": MASSAGE.id, "date": start[:10]}
                )
            ).json()["slots"]
    assert outcomes == Counter({201: 1, 409: 49})
    assert start not in {slot["start"].replace("Z", "+00:00") for slot in found}
