"""What only the PostgreSQL backend promises: its schema, deadlines, events and masking."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from parlour.errors import ConfigurationError, StorageUnavailable
from parlour.storage import ChangeKind, KVStore
from parlour.storage.base import ABSENT, MAX_KEY_BYTES
from parlour.storage.postgres import RECLAIM_BATCH, PostgresBackend
from parlour.storage.postgres_schema import LATEST, migrations

from support.postgres_server import PASSWORD, PostgresServer
from support.waiting import eventually

pytestmark = pytest.mark.postgres
TIMEOUT = 0.25


@pytest.fixture
async def backend(postgres_url: str) -> AsyncIterator[PostgresBackend]:
    opened = PostgresBackend(postgres_url)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def private(private_postgres: PostgresServer) -> AsyncIterator[PostgresBackend]:
    opened = PostgresBackend(private_postgres.fresh_database(), timeout=TIMEOUT, pool_size=4)
    await opened.open()

    async def answers() -> bool:
        # A cluster that has just started can take longer than the test's short deadline to
        # accept its first connection on a loaded machine; the tests are about what follows.
        try:
            await opened.ping()
        except StorageUnavailable:
            return False
        return True

    await eventually(answers, what="the new PostgreSQL cluster answering")
    yield opened
    await opened.close()


def test_latest_is_the_last_migration() -> None:
    assert migrations()[-1][0] == LATEST


async def test_an_empty_database_gets_the_schema_and_check_reports_it(
    empty_postgres_url: str,
) -> None:
    backend = PostgresBackend(empty_postgres_url)
    await backend.open()
    try:
        await KVStore(backend, "alpha").set_item("k", 1)
        about = await backend.about()
    finally:
        await backend.close()
    assert about.startswith("PostgreSQL 1")
    assert f"schema version {LATEST} (current)" in about


async def test_an_older_schema_is_refused_until_db_upgrade(
    backend: PostgresBackend, postgres_server: PostgresServer
) -> None:
    await backend.ready_to_serve()
    database = backend.url.rsplit("/", 1)[1]
    postgres_server.sql(f"UPDATE parlour_schema SET version = {LATEST - 1}", database)
    stale = PostgresBackend(backend.url)
    await stale.open()
    try:
        with pytest.raises(ConfigurationError, match="run `parlour db upgrade`"):
            await stale.ready_to_serve()
        with pytest.raises(StorageUnavailable, match="parlour db upgrade"):
            await KVStore(stale, "alpha").get_item("k")  # at run time: a 503, not a 500
    finally:
        await stale.close()
    postgres_server.sql(f"UPDATE parlour_schema SET version = {LATEST + 1}", database)
    newer = PostgresBackend(backend.url)
    await newer.open()
    try:
        with pytest.raises(ConfigurationError, match="upgrade Parlour"):
            await newer.ready_to_serve()
    finally:
        await newer.close()


async def test_the_password_is_never_shown(postgres_server: PostgresServer) -> None:
    wrong = PostgresBackend(postgres_server.url().replace(PASSWORD, "not-the-" + PASSWORD))
    await wrong.open()
    try:
        assert PASSWORD not in wrong.describe()
        with pytest.raises(StorageUnavailable) as caught:
            await wrong.ping()
        assert "refused our credentials" in str(caught.value)
        assert PASSWORD not in str(caught.value)
    finally:
        await wrong.close()


async def test_sslmode_in_the_url_is_honoured(postgres_server: PostgresServer) -> None:
    """The test cluster has no TLS: sslmode=require must refuse it, sslmode=disable must not."""
    plain = PostgresBackend(postgres_server.url() + "?sslmode=disable")
    required = PostgresBackend(postgres_server.url() + "?sslmode=require")
    for backend in (plain, required):
        await backend.open()
    try:
        await plain.ping()
        with pytest.raises(StorageUnavailable):
            await required.ping()
    finally:
        for backend in (plain, required):
            await backend.close()


async def test_expired_items_are_reclaimed_in_bounded_batches(backend: PostgresBackend) -> None:
    kv = KVStore(backend, "alpha")
    await asyncio.gather(*(kv.set_item(f"k{n}", n, ttl=0.05) for n in range(RECLAIM_BATCH + 20)))
    await kv.set_item("lasting", 1)

    async def all_expired() -> bool:
        return await kv.get_all_items() == {"lasting": 1}

    await eventually(all_expired, what="every short-lived item expiring")
    assert await backend.reclaim() == RECLAIM_BATCH
    assert await backend.reclaim() == 20
    assert await backend.reclaim() == 0
    assert await kv.get_item("lasting") == 1


async def test_the_largest_change_event_fits_in_a_notification(backend: PostgresBackend) -> None:
    key = "\x00" * MAX_KEY_BYTES  # each escaped as \\u0000: the longest payload there is
    assert len(backend._event("a" * 32, key, ChangeKind.REMOVED).encode()) < 8000
    kv = KVStore(backend, "alpha")
    async with kv.subscribe() as events:
        await kv.set_item(key, 1)
        event = await events.next(timeout=5)
    assert event is not None
    assert event.key == key


async def test_a_lost_listener_resyncs_subscribers_and_events_flow_again(
    backend: PostgresBackend, postgres_server: PostgresServer
) -> None:
    kv = KVStore(backend, "alpha")
    async with kv.subscribe() as events:
        database = backend.url.rsplit("/", 1)[1]
        postgres_server.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{database}' AND query LIKE 'LISTEN%'"
        )
        event = await events.next(timeout=10)
        assert event is not None
        assert event.kind is ChangeKind.RESYNC
        await kv.set_item("after", 1)
        event = await events.next(timeout=10)
    assert event is not None
    assert (event.key, event.kind) == ("after", ChangeKind.SET)
    assert backend.reconnects == 1


async def test_a_stopped_server_is_unavailable_within_the_deadline(
    private: PostgresBackend, private_postgres: PostgresServer
) -> None:
    kv = KVStore(private, "alpha")
    await kv.set_item("k", 1)
    private_postgres.stop("immediate")
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await kv.get_item("k")
    assert time.monotonic() - started < private.deadline + 0.5
    private_postgres.start_again()

    async def back() -> bool:
        try:
            return await kv.get_item("k") == 1
        except StorageUnavailable:
            return False

    await eventually(back, what="reads working again after PostgreSQL came back")


async def test_a_hung_server_is_unavailable_within_the_deadline(
    private: PostgresBackend, private_postgres: PostgresServer
) -> None:
    kv = KVStore(private, "alpha")
    await kv.set_item("k", 1)
    private_postgres.freeze()
    try:
        for operation in (
            kv.get_item("k"),
            kv.transact({"u1": "me"}, expect={"u1": ABSENT}),
            kv.set_if_absent("x", 1),
        ):
            started = time.monotonic()
            with pytest.raises(StorageUnavailable):
                await operation
            assert time.monotonic() - started < private.deadline + 0.5
    finally:
        private_postgres.thaw()

    async def back() -> bool:
        try:
            return await kv.get_item("k") == 1
        except StorageUnavailable:
            return False

    await eventually(back, what="reads working again after PostgreSQL thawed")


async def test_a_busy_pool_makes_callers_wait_not_fail(postgres_url: str) -> None:
    backend = PostgresBackend(postgres_url, timeout=1.0, pool_size=1)
    await backend.open()
    try:
        kv = KVStore(backend, "alpha")
        await kv.set_item("k", 1)

        async def hold() -> None:
            async def sleep(connection: object) -> None:
                await connection.execute("SELECT pg_sleep(0.3)")  # type: ignore[attr-defined]

            await backend.run(sleep, idempotent=True)

        holding = asyncio.create_task(hold())
        await asyncio.sleep(0.05)  # the holder has the only connection
        assert await kv.get_item("k") == 1  # waited for it, inside the 2 s deadline
        await holding
    finally:
        await backend.close()


async def test_a_burst_far_beyond_the_pool_queues_while_the_server_answers(
    postgres_url: str,
) -> None:
    """200 callers on a pool of 2 with the default 0.5 s timeout: the queue takes far longer
    than the deadline to drain, but it moves, so nobody fails (a wait bounded by the clock
    alone failed most of them, and 64 callers on a pool of 10 under load in CI)."""
    backend = PostgresBackend(postgres_url, timeout=0.5, pool_size=2)
    await backend.open()
    try:
        kv = KVStore(backend, "alpha")

        async def write_then_read(n: int) -> object:
            await kv.transact({f"k{n}": n}, merge={"index": {f"k{n}": "1"}})
            return await kv.get_item(f"k{n}")

        outcomes = await asyncio.gather(
            *(write_then_read(n) for n in range(200)), return_exceptions=True
        )
        assert [o for o in outcomes if isinstance(o, BaseException)] == []
        assert outcomes == list(range(200))
        index = await kv.get_item("index")
        assert isinstance(index, dict)
        assert len(index) == 200
    finally:
        await backend.close()
