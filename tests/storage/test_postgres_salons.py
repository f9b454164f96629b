"""Many salons on PostgreSQL: every row names its salon and row-level security, forced, lets a
statement see and write only the rows of the salon it runs for, even for the tables' owner.

Parlour's tests connect as a superuser elsewhere, which row-level security never holds; here
Parlour connects as an ordinary role that owns its tables, as docs/tenancy.md tells operators to.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from parlour.storage.base import ABSENT, KVStore
from parlour.storage.postgres import PostgresBackend

from support.postgres_server import PostgresServer

pytestmark = pytest.mark.postgres
ROLE, SECRET = "parlour_app", "app-secret-pw"
_roles = itertools.count()


@pytest.fixture
def app_url(postgres_server: PostgresServer) -> str:
    """A new empty database that an ordinary role (no superuser, no BYPASSRLS) may build in."""
    url = postgres_server.fresh_database()
    database = urlsplit(url).path.lstrip("/")
    role = f"{ROLE}_{next(_roles)}_{database}"
    postgres_server.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}' NOSUPERUSER NOBYPASSRLS")
    postgres_server.sql(f'ALTER DATABASE "{database}" OWNER TO {role}')
    postgres_server.sql(f"GRANT CREATE ON SCHEMA public TO {role}", database)
    return f"postgresql://{role}:{SECRET}@127.0.0.1:{postgres_server.port}/{database}"


@pytest.fixture
async def backend(app_url: str) -> AsyncIterator[PostgresBackend]:
    opened = PostgresBackend(app_url)
    await opened.open()
    await opened.ready_to_serve()  # the role builds the schema, so it owns the table
    yield opened
    await opened.close()


async def test_each_salon_reads_and_writes_its_own_rows(backend: PostgresBackend) -> None:
    for namespace in ("bookings", "bookings@maya", "bookings@jonah"):
        store = KVStore(backend, namespace)
        await store.set_item("b:1", {"of": namespace})
        claim = {"u:r_ann:100": {"of": namespace}}
        assert await store.transact(claim, expect={"u:r_ann:100": ABSENT})
        assert await store.transact({"c:1": "x"}, merge={"c:m": {"n": "1"}})
    for namespace in ("bookings", "bookings@maya", "bookings@jonah"):
        assert await KVStore(backend, namespace).get_item("b:1") == {"of": namespace}
        keys = [key async for key, _ in KVStore(backend, namespace).items()]
        assert keys == ["b:1", "c:1", "c:m", "u:r_ann:100"]


async def test_the_database_itself_refuses_rows_of_another_salon(
    backend: PostgresBackend, app_url: str
) -> None:
    for namespace in ("bookings", "bookings@maya", "bookings@jonah"):
        await KVStore(backend, namespace).set_item("b:1", {"of": namespace})
    connection = await asyncpg.connect(app_url)
    try:
        unscoped = await connection.fetch("SELECT namespace FROM parlour_kv")
        assert [row[0] for row in unscoped] == ["bookings"]
        async with connection.transaction():
            await connection.execute("SELECT set_config('parlour.salon', 'maya', true)")
            seen = await connection.fetch("SELECT namespace FROM parlour_kv")
            assert [row[0] for row in seen] == ["bookings@maya"]
            changed = await connection.execute(
                "UPDATE parlour_kv SET value = 'x' WHERE namespace = 'bookings@jonah'"
            )
            assert changed == "UPDATE 0"
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(
                    "INSERT INTO parlour_kv VALUES ('bookings@jonah', 'b:2', 'null', NULL)"
                )
        bypass = await connection.fetchval(
            "SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        assert bypass is False
    finally:
        await connection.close()


async def test_expired_rows_of_every_salon_are_reclaimed(backend: PostgresBackend) -> None:
    for namespace in ("bookings", "bookings@maya"):
        await KVStore(backend, namespace).set_item("gone", {"x": 1}, ttl=0.001)
        await KVStore(backend, namespace).set_item("kept", {"x": 1})
    while await backend.reclaim():
        pass
    connection = await asyncpg.connect(backend.url)
    try:
        async with connection.transaction():
            await connection.execute("SELECT set_config('parlour.salon', '*', true)")
            rows = await connection.fetch("SELECT namespace, key FROM parlour_kv ORDER BY 1")
    finally:
        await connection.close()
    assert [(row[0], bytes(row[1])) for row in rows] == [
        ("bookings", b"kept"),
        ("bookings@maya", b"kept"),
    ]
