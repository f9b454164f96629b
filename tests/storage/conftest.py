from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parlour.storage import Backend, KVStore
from parlour.storage.memory import MemoryBackend
from parlour.storage.redis import RedisBackend
from parlour.storage.sqlite import SQLiteBackend

from support.redis_topologies import redis_params, url_for

ALL_BACKENDS = [
    pytest.param("memory"),
    pytest.param("sqlite"),
    *redis_params(),
]
SHARED_BACKENDS = ALL_BACKENDS[1:]
"""Backends that several processes can share."""


def make_backend(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Backend:
    if kind == "memory":
        return MemoryBackend()
    if kind == "sqlite":
        return SQLiteBackend(tmp_path / "parlour.db")
    return RedisBackend(url_for(kind, request))


@pytest.fixture(params=ALL_BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    opened = make_backend(request.param, tmp_path, request)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture(params=SHARED_BACKENDS)
async def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    opened = make_backend(request.param, tmp_path, request)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def kv(backend: Backend) -> KVStore:
    return KVStore(backend, "alpha")
