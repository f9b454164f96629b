"""The session service on memory and on real Redis: timeouts, the index, no resurrection."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from parlour.services.sessions import (
    CredentialsChanged,
    SessionRecord,
    SessionService,
    new_csrf_secret,
    storage_key,
)
from parlour.storage import KVStore
from parlour.storage.memory import MemoryBackend
from parlour.storage.redis import RedisBackend

from support.backends import make_backend, params
from support.redis_server import RedisServer

IDLE, ABSOLUTE = 1800.0, 7200.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def record(user: str = "u1", created: float | None = None) -> SessionRecord:
    now = time.time() if created is None else created
    return SessionRecord(
        user_id=user,
        email=f"{user}@example.com",
        role="staff",
        csrf=new_csrf_secret(),
        created=now,
        seen=now,
    )


@pytest.fixture(params=params(["memory", "redis", "postgres"]))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KVStore]:
    backend = make_backend(request.param, tmp_path, request)
    await backend.open()
    yield KVStore(backend, "sessions")
    await backend.close()


@pytest.fixture
def service(store: KVStore) -> SessionService:
    return SessionService(store, idle_timeout=IDLE, absolute_timeout=ABSOLUTE)


async def test_the_store_keys_sessions_by_a_hash_of_the_id(
    service: SessionService, store: KVStore
) -> None:
    session_id = await service.create(record())
    assert len(session_id) == 43  # 256 bits, URL-safe
    stored = await store.get_all_items()
    assert session_id not in str(stored)
    assert storage_key(session_id) in stored
    assert (await service.load(session_id)) == record().__class__(**stored[storage_key(session_id)])


@pytest.mark.parametrize(
    "presented", ["", "x", "../../etc", "A" * 43, "A" * 200, "bad id with spaces and = signs="]
)
async def test_ids_never_issued_are_not_adopted(service: SessionService, presented: str) -> None:
    assert await service.load(presented) is None


async def use(service: SessionService, session_id: str) -> SessionRecord | None:
    """A request with this session, as web/middleware/sessions.py makes it: load, and write
    "last seen" (which slides the idle timeout in the store) once it is ``seen_resolution`` old."""
    loaded = await service.load(session_id)
    now = service.clock()
    if loaded is not None and now - loaded.seen >= service.seen_resolution:
        assert await service.save(session_id, replace(loaded, seen=now))
    return loaded


async def test_absolute_timeout_ends_even_an_active_session() -> None:
    clock = Clock()
    service = SessionService(
        KVStore(MemoryBackend(), "sessions"),
        idle_timeout=IDLE,
        absolute_timeout=ABSOLUTE,
        clock=clock,
    )
    end = clock.now + ABSOLUTE
    session_id = await service.create(record(created=clock.now))
    while clock.now + IDLE / 2 < end:  # in use all along
        clock.now += IDLE / 2
        assert await use(service, session_id) is not None
    clock.now = end - 1
    assert await use(service, session_id) is not None
    clock.now += 1
    assert await use(service, session_id) is None
    assert await service.sessions_of("u1") == []


async def test_idle_timeout_slides_with_use() -> None:
    clock = Clock()
    service = SessionService(
        KVStore(MemoryBackend(clock=clock), "sessions"),
        idle_timeout=IDLE,
        absolute_timeout=ABSOLUTE * 10,
        clock=clock,
    )
    session_id = await service.create(record(created=clock.now))
    for _ in range(5):
        clock.now += IDLE - 1  # always back just before the idle timeout
        assert await use(service, session_id) is not None
    clock.now += IDLE + 1
    assert await use(service, session_id) is None


async def test_timeouts_are_enforced_from_the_record_whatever_the_store_still_holds() -> None:
    """A copy in memory (or an item whose TTL outlived it) is refused once its record says so:
    the store's expiry is not what ends a session."""
    clock = Clock()
    store = KVStore(MemoryBackend(clock=clock), "sessions")
    service = SessionService(store, idle_timeout=IDLE, absolute_timeout=ABSOLUTE, clock=clock)
    idle_id, old_id = await service.create(record()), await service.create(record())
    seen_long_ago = replace(record(created=clock.now - 10), seen=clock.now - IDLE)
    await store.set_item(storage_key(idle_id), seen_long_ago.to_json(), ttl=ABSOLUTE)
    made_long_ago = replace(record(created=clock.now - ABSOLUTE), seen=clock.now)
    await store.set_item(storage_key(old_id), made_long_ago.to_json(), ttl=ABSOLUTE)
    assert await service.load(idle_id) is None
    assert await service.load(old_id) is None
    assert await store.get_item(storage_key(idle_id)) is None  # ended, not just refused


async def test_a_session_read_within_the_resolution_costs_no_write(store: KVStore) -> None:
    clock = Clock()
    service = SessionService(store, idle_timeout=IDLE, absolute_timeout=ABSOLUTE, clock=clock)
    session_id = await service.create(record(created=clock.now))
    before = await store.get_item(storage_key(session_id))
    clock.now += service.seen_resolution - 1
    assert await use(service, session_id) is not None
    assert await store.get_item(storage_key(session_id)) == before
    clock.now += 1
    assert await use(service, session_id) is not None
    assert (await store.get_item(storage_key(session_id)) or {})["seen"] == clock.now


@pytest.mark.redis
async def test_every_redis_session_key_carries_a_ttl(
    redis_url: str, redis_server: RedisServer
) -> None:
    backend = RedisBackend(redis_url)
    await backend.open()
    try:
        service = SessionService(
            KVStore(backend, "sessions"), idle_timeout=IDLE, absolute_timeout=ABSOLUTE
        )
        session_id = await service.create(record())
        await service.load(session_id)
    finally:
        await backend.close()
    with redis_server.client() as client:
        keys = list(client.keys("parlour:{sessions}:v:*"))
        assert len(keys) == 2  # the session and its user's index
        assert all(0 < client.pttl(key) <= ABSOLUTE * 1000 for key in keys)
        session_key = f"parlour:{{sessions}}:v:{storage_key(session_id)}"
        assert client.pttl(session_key) <= IDLE * 1000


async def test_a_session_deleted_meanwhile_is_never_written_back(service: SessionService) -> None:
    session_id = await service.create(record())
    loaded = await service.load(session_id)  # request A reads the session...
    assert loaded is not None
    await service.destroy(session_id)  # ...request B logs out...
    assert await service.save(session_id, loaded) is False  # ...A's save does not resurrect it
    assert await service.load(session_id) is None


async def test_rotation_destroys_the_old_id(service: SessionService) -> None:
    old = await service.create(record())
    new = await service.rotate(old, record())
    assert new != old
    assert await service.load(old) is None
    assert await service.load(new) is not None
    assert [s.key for s in await service.sessions_of("u1")] == [storage_key(new)]


async def test_the_user_index_finds_every_session_and_ends_them(service: SessionService) -> None:
    ids = [await service.create(record("u1")) for _ in range(3)]
    other = await service.create(record("u2"))
    assert {s.key for s in await service.sessions_of("u1")} == {storage_key(i) for i in ids}
    assert await service.end("u2", storage_key(ids[0])) is False  # not u2's to end
    assert await service.end("u1", storage_key(ids[0])) is True
    assert await service.end_all("u1", keep=storage_key(ids[1])) == 1
    assert [s.key for s in await service.sessions_of("u1")] == [storage_key(ids[1])]
    assert await service.end_all("u1") == 1
    assert await service.sessions_of("u1") == []
    assert await service.load(other) is not None


async def test_session_events_are_logged_by_hash_never_by_id(
    service: SessionService, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="parlour.services.sessions"):
        session_id = await service.create(record())
        await service.rotate(session_id, record())
        await service.end_all("u1")
    text = caplog.text
    assert session_id not in text
    assert storage_key(session_id)[:12] in text
    for event in ("created", "rotated", "revoked"):
        assert event in text


async def test_a_session_follows_its_accounts_credentials_version(store: KVStore) -> None:
    versions = {"u1@example.com": 0}

    async def credentials(email: str, fresh: bool) -> int | None:
        return versions.get(email)

    service = SessionService(
        store, idle_timeout=IDLE, absolute_timeout=ABSOLUTE, credentials=credentials
    )
    session_id = await service.create(record())
    assert await service.load(session_id) is not None
    versions["u1@example.com"] = 1  # the password changed elsewhere; nothing was swept
    assert await service.load(session_id) is None
    assert await store.get_item(storage_key(session_id)) is None  # ended, not just refused
    # a login checked against version 0 that is stored after the change is never made
    with pytest.raises(CredentialsChanged):
        await service.create(record())
    assert [key for key in await store.get_all_items() if not key.startswith("user:")] == []
    del versions["u1@example.com"]  # and an account that is gone takes its sessions along
    with pytest.raises(CredentialsChanged):
        await service.create(record())
