"""Every backend, as one fixture: the contract, bookings, sessions and rate-limit suites reuse it.

A pytest plugin (``tests/conftest.py`` loads it). ``any_backend`` yields an open backend of
each kind in :data:`ALL_KINDS`: memory, SQLite, Redis standalone, Cluster and Sentinel, and
PostgreSQL, each on real servers that the harness starts (a fresh Redis keyspace or PostgreSQL
database per test). ``shared_backend`` yields only those several processes can share. A new
backend is one more entry in :data:`KINDS`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from parlour.config import Settings, load_settings
from parlour.errors import StorageUnavailable
from parlour.storage import Backend
from parlour.storage.dual import DualBackend
from parlour.storage.memory import MemoryBackend
from parlour.storage.sqlite import SQLiteBackend

from support.postgres_server import PostgresServer, find_postgres_bin
from support.redis_topologies import URL_FIXTURES
from support.waiting import eventually


@dataclass(frozen=True)
class Kind:
    name: str
    shared: bool
    """Several processes see the same data."""
    settings: Callable[[pytest.FixtureRequest], dict[str, object]]
    """The settings that put durable data on this backend (``load_settings`` overrides)."""
    mark: str | None = None


def _redis_settings(fixture: str) -> Callable[[pytest.FixtureRequest], dict[str, object]]:
    def settings(request: pytest.FixtureRequest) -> dict[str, object]:
        return {"redis_url": request.getfixturevalue(fixture), "data_backend": "redis"}

    return settings


def _postgres_settings(request: pytest.FixtureRequest) -> dict[str, object]:
    return {"database_url": request.getfixturevalue("postgres_url"), "data_backend": "postgres"}


KINDS: dict[str, Kind] = {
    "memory": Kind("memory", False, lambda request: {"data_backend": "memory"}),
    "sqlite": Kind("sqlite", True, lambda request: {"data_backend": "sqlite"}),
    **{
        name: Kind(name, True, _redis_settings(fixture), mark="redis")
        for name, fixture in URL_FIXTURES.items()
    },
    "postgres": Kind("postgres", True, _postgres_settings, mark="postgres"),
}
ALL_KINDS = list(KINDS)
SHARED_KINDS = [name for name, kind in KINDS.items() if kind.shared]
DURABLE_KINDS = ["sqlite", "redis", "postgres"]
"""One of each technology that holds bookings across processes (no extra topologies)."""


DUAL_KINDS = {
    "dual-memory-to-sqlite": None,
    "dual-sqlite-to-redis": "redis",
    "dual-sqlite-to-postgres": "postgres",
}
"""Dual-write (the migration mode), from an old backend to a new one of another kind: a backend
as far as the contract goes, so the contract suite runs on it too."""


def params(names: list[str]) -> list[object]:
    """``pytest.param`` for each named kind, with its server's marker."""
    chosen: list[object] = []
    for name in names:
        mark = DUAL_KINDS[name] if name in DUAL_KINDS else KINDS[name].mark
        chosen.append(pytest.param(name, marks=[getattr(pytest.mark, mark)] if mark else []))
    return chosen


def settings_for(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, **extra: object
) -> Settings:
    """Settings with durable data (and, where it can, sessions and limits) on ``kind``."""
    overrides = {"data_dir": tmp_path / "data", **KINDS[kind].settings(request), **extra}
    return load_settings(env_file=None, **overrides)


def make_backend(
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    clock: Callable[[], float] | None = None,
) -> Backend:
    """An unopened backend of ``kind`` on an empty store of this test's own; ``clock`` drives
    expiry where the backend takes one (memory, SQLite, and dual-write built of those)."""
    if kind in DUAL_KINDS:
        old, _, new = kind.removeprefix("dual-").partition("-to-")
        return DualBackend(
            make_backend(new, tmp_path / "new", request, clock),
            make_backend(old, tmp_path / "old", request, clock),
        )
    if kind == "memory":
        return MemoryBackend() if clock is None else MemoryBackend(clock)
    if kind == "sqlite":
        path = tmp_path / "parlour.db"
        return SQLiteBackend(path) if clock is None else SQLiteBackend(path, clock=clock)
    settings = settings_for(kind, request, tmp_path)
    from parlour.storage.registry import BACKENDS

    return BACKENDS[settings.data_backend].build(settings)


def spec_of(backend: Backend) -> str:
    """What ``backend_for_spec`` takes to open the same store in another process."""
    if isinstance(backend, SQLiteBackend):
        return f"sqlite:{backend.path}"
    url = getattr(backend, "url", None)
    assert isinstance(url, str), f"{backend.name} has no URL for another process"
    return url


async def answering(backend: Backend) -> Backend:
    """``backend`` opened, once it answers: a database just made, on a machine busy with the
    other workers' tests, can take longer than the backend's short deadline to accept its first
    connection (a CI rehearsal saw it), and the tests are about what follows."""
    await backend.open()

    async def answers() -> bool:
        try:
            await backend.ping()
        except StorageUnavailable:
            return False
        return True

    await eventually(answers, timeout=30.0, what=f"{backend.name} answering")
    return backend


@pytest.fixture(params=params([*ALL_KINDS, *DUAL_KINDS]))
async def any_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """An open backend of every kind, dual-write included, one per test, empty."""
    opened = await answering(make_backend(request.param, tmp_path, request))
    yield opened
    await opened.close()


@pytest.fixture(params=params(SHARED_KINDS))
async def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """As ``any_backend``, for the kinds several processes can share."""
    opened = await answering(make_backend(request.param, tmp_path, request))
    yield opened
    await opened.close()


# -- PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_bin() -> Path:
    found = find_postgres_bin()
    if found is None or not (found / "initdb").is_file():
        message = (
            "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin: "
            "apt install postgresql, or set PARLOUR_TEST_POSTGRES_BIN"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: a missing PostgreSQL is a failure, not a skip)")
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def postgres_server(postgres_bin: Path) -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole run; each ``postgres_url`` is a fresh database."""
    # No fsync on the shared cluster: nothing here survives the run, and 2 cores shared by every
    # test cannot afford a disk flush per commit. Clusters that tests crash keep fsync on.
    server = PostgresServer(postgres_bin, settings={"fsync": "off"}).start()
    yield server
    server.destroy()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A database of this test's own holding Parlour's current schema (copied from a template
    migrated once per run)."""
    return postgres_server.fresh_database(migrated=True)


@pytest.fixture
def empty_postgres_url(postgres_server: PostgresServer) -> str:
    """A database of this test's own without any schema: for what Parlour does on first use."""
    return postgres_server.fresh_database()


@pytest.fixture
def private_postgres(postgres_bin: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of this test's own, free to be restarted, stopped or frozen."""
    server = PostgresServer(postgres_bin).start()
    yield server
    server.destroy()
