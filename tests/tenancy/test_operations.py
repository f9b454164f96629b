"""The operator's work on whole salons (services/operations.py): usage, export, erase and the
scan that proves an erased salon left nothing, on SQLite, PostgreSQL and Redis (where a SCAN of the
salon's hash tag must come back empty), and erasure of the salon that adopted a single-salon
deployment's keys, which must not reach the platform's own namespaces."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from parlour import migration
from parlour.config import Settings, load_settings
from parlour.errors import InvalidInput
from parlour.runtime import Runtime
from parlour.services.audit import Actor
from parlour.services.operations import Operations
from parlour.services.tenants import PLATFORM, Salon, Status
from parlour.storage import Storage

from support.backends import DURABLE_KINDS, KINDS, params
from support.salon import MASSAGE, ask, at, client, furnish, upcoming_weekday

DOMAIN = "salons.test"
OPERATOR = Actor("op_1", "operator@platform.test", "127.0.0.1")
PASSWORD = "correct horse battery"


def operations_of(runtime: Runtime) -> Operations:
    """The runtime's (built with many salons only)."""
    assert runtime.operations is not None
    return runtime.operations


def multi(tmp_path: Path, **more: object) -> Settings:
    return load_settings(
        env_file=None, data_dir=tmp_path, tenancy="multi", platform_domain=DOMAIN, **more
    )


@pytest.fixture(params=params(DURABLE_KINDS))
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return multi(tmp_path, **KINDS[request.param].settings(request))


@pytest.fixture
async def opened(
    settings: Settings, cheap_hasher: PasswordHasher
) -> AsyncIterator[tuple[Runtime, Operations]]:
    runtime = Runtime.from_settings(settings, password_hasher=cheap_hasher)
    async with runtime.opened():
        yield runtime, operations_of(runtime)


async def open_salon(runtime: Runtime, operations: Operations, slug: str) -> Salon:
    """A salon with its owner, a catalogue, a booking (and its message), a session."""
    salon = await operations.create(
        slug, slug.title(), f"owner@{slug}.test", PASSWORD, actor=OPERATOR
    )
    assert runtime.salons is not None
    services = runtime.salons.services(salon)
    await furnish(services.stores.kv)
    day = upcoming_weekday()
    await services.core.bookings.book(
        ask({"treatment": MASSAGE.id, "start": at(10, day=day), **client(1)})
    )
    user = await services.core.accounts.get(salon.owner_email)
    assert user is not None
    return salon


async def snapshot(storage: Storage, space: str | None) -> dict[str, dict[str, object]]:
    stores = storage.salon(space)
    return {
        name: await stores.kv(name.partition("@")[0]).get_all_items()
        for name in stores.namespaces()
    }


async def test_usage_counts_bookings_staff_bytes_and_messages(
    opened: tuple[Runtime, Operations],
) -> None:
    runtime, operations = opened
    maya = await open_salon(runtime, operations, "maya")
    usage = await operations.usage(maya)
    assert (usage.bookings, usage.staff) == (1, 1)
    assert usage.messages >= 1  # the booking's confirmation, staged with it
    assert usage.stored_bytes > 1000
    empty = await operations.tenants.create("jonah", "Jonah", "owner@jonah.test")
    assert (await operations.usage(empty)).items == 0


async def test_erase_removes_every_item_of_one_salon_and_nothing_of_the_others(
    opened: tuple[Runtime, Operations], settings: Settings
) -> None:
    runtime, operations = opened
    maya = await open_salon(runtime, operations, "maya")
    jonah = await open_salon(runtime, operations, "jonah")
    await operations.add_host("maya", "book.maya.example", actor=OPERATOR)
    jonah_before = await snapshot(runtime.storage, "jonah")
    platform_before = await snapshot(runtime.storage, PLATFORM)

    erased = await operations.erase("maya", actor=OPERATOR)

    assert erased.removed > 10
    assert erased.remaining == {}
    assert await operations.remaining(maya) == {}
    assert await operations.tenants.get("maya") is None
    assert await operations.tenants.resolve("book.maya.example") is None
    assert all(not items for items in (await snapshot(runtime.storage, "maya")).values())
    assert await snapshot(runtime.storage, "jonah") == jonah_before
    assert await operations.tenants.get("jonah") == jonah
    platform_after = await snapshot(runtime.storage, PLATFORM)
    assert platform_after["users@platform"] == platform_before["users@platform"]
    audit = [entry async for entry in runtime.core.audit.entries()]
    erase = audit[-1]
    assert (erase.action, erase.target, erase.actor) == ("tenant.erase", "maya", OPERATOR.email)
    assert erase.after == {"removed": erased.removed, "remaining": {}}
    if settings.redis_url:
        backend = runtime.storage.backend_for("bookings")
        redis = backend.client  # type: ignore[attr-defined]
        assert [key async for key in redis.scan_iter(match="*{s.maya}*")] == []
        assert [key async for key in redis.scan_iter(match="*{s.jonah}*")] != []


async def test_remaining_finds_what_a_late_write_left(opened: tuple[Runtime, Operations]) -> None:
    runtime, operations = opened
    maya = await open_salon(runtime, operations, "maya")
    await operations.erase("maya", actor=OPERATOR)
    await runtime.storage.salon("maya").kv("reviews").set_item("late", {"text": "hi"})
    assert await operations.remaining(maya) == {"reviews@maya": 1}


async def test_erasing_the_adopted_salon_leaves_the_platform_and_the_other_salons(
    tmp_path: Path, cheap_hasher: PasswordHasher
) -> None:
    single = Runtime.from_settings(load_settings(env_file=None, data_dir=tmp_path))
    async with single.opened():
        await furnish(single.storage.kv)
        await single.core.accounts.create_user("owner@first.test", "admin", PASSWORD)
    runtime = Runtime.from_settings(multi(tmp_path), password_hasher=cheap_hasher)
    async with runtime.opened():
        operations = operations_of(runtime)
        first = await operations.create(
            "first", "First", "owner@first.test", None, actor=OPERATOR, adopt=True
        )
        assert first.space is None
        assert (await operations.usage(first)).staff == 1  # the account it had, kept
        await open_salon(runtime, operations, "jonah")
        jonah_before = await snapshot(runtime.storage, "jonah")
        platform_audit = len([e async for e in runtime.core.audit.entries()])

        erased = await operations.erase("first", actor=OPERATOR)

        assert erased.remaining == {}
        assert all(not items for items in (await snapshot(runtime.storage, None)).values())
        assert [salon.slug for salon in await operations.tenants.all()] == ["jonah"]
        assert await snapshot(runtime.storage, "jonah") == jonah_before
        assert len([e async for e in runtime.core.audit.entries()]) == platform_audit + 1


async def test_export_is_a_single_salon_backup_that_import_reads(
    opened: tuple[Runtime, Operations], tmp_path: Path
) -> None:
    runtime, operations = opened
    await open_salon(runtime, operations, "maya")
    await open_salon(runtime, operations, "jonah")
    backup = tmp_path / "maya.jsonl"
    count = await operations.export("maya", backup, actor=OPERATOR)

    lines = [json.loads(line) for line in backup.read_text().splitlines()]
    assert len(lines) == count
    assert {line["namespace"] for line in lines} >= {"bookings", "users", "treatments"}
    assert backup.stat().st_mode & 0o777 == 0o600
    streamed = [line async for line in operations.exporting("maya", actor=OPERATOR)]
    assert len(streamed) == count
    exports = [e async for e in runtime.core.audit.entries() if e.action == "tenant.export"]
    assert [e.after for e in exports] == [{"items": count}, {"streamed": True}]
    alone = load_settings(env_file=None, data_dir=tmp_path / "alone")
    assert await migration.import_(alone, backup, list(migration.MOVABLE)) == 0
    moved = Runtime.from_settings(alone)
    async with moved.opened() as core:  # a single-salon deployment
        assert await core.accounts.get("owner@maya.test") is not None
        assert await core.accounts.get("owner@jonah.test") is None
        assert len(await moved.storage.kv("bookings").get_all_items()) > 0


async def test_create_checks_the_owner_before_anything_is_made(
    opened: tuple[Runtime, Operations],
) -> None:
    _, operations = opened
    with pytest.raises(InvalidInput):
        await operations.create("maya", "Maya", "owner@maya.test", "short", actor=OPERATOR)
    with pytest.raises(InvalidInput):
        await operations.create("maya", "Maya", "owner@maya.test", None, actor=OPERATOR)
    assert await operations.tenants.all() == []
    suspended = await operations.set_status(
        (await operations.create("maya", "Maya", "o@maya.test", PASSWORD, actor=OPERATOR)).slug,
        Status.SUSPENDED,
        actor=OPERATOR,
    )
    assert suspended.status is Status.SUSPENDED


async def test_a_domain_removed_as_it_was_typed_stops_serving_the_salon(
    opened: tuple[Runtime, Operations],
) -> None:
    _, operations = opened
    tenants = operations.tenants
    await tenants.create("maya", "Maya", "o@maya.test")
    await tenants.add_host("maya", "Book.Maya.example")
    assert await tenants.resolve("book.maya.example") is not None
    after = await tenants.remove_host("maya", "Book.Maya.example.")
    assert after.hosts == ()
    assert await tenants.resolve("book.maya.example") is None
    assert await tenants.store.get_item("h:book.maya.example") is None


async def test_erase_forgets_a_domain_claim_an_interrupted_add_left(
    opened: tuple[Runtime, Operations],
) -> None:
    _, operations = opened
    maya = await operations.tenants.create("maya", "Maya", "o@maya.test")
    await operations.tenants.store.set_item("h:book.maya.example", {"slug": "maya"})
    assert (await operations.erase("maya", actor=OPERATOR)).remaining == {}
    assert await operations.remaining(maya) == {}


async def test_an_exported_salon_erased_and_imported_again_is_whole(
    opened: tuple[Runtime, Operations], tmp_path: Path
) -> None:
    runtime, operations = opened
    maya = await open_salon(runtime, operations, "maya")
    before = await snapshot(runtime.storage, "maya")
    backup = tmp_path / "maya.jsonl"
    await operations.export("maya", backup, actor=OPERATOR)
    await operations.erase("maya", actor=OPERATOR)
    await operations.tenants.create("maya", maya.name, maya.owner_email)

    copied, present = await operations.import_file("maya", backup, actor=OPERATOR)

    assert (copied, present) == (sum(map(len, before.values())), 0)
    assert await snapshot(runtime.storage, "maya") == before
    assert await operations.import_file("maya", backup, actor=OPERATOR) == (0, copied)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            '{"namespace": "users@jonah", "key": "a@b.c", "value": "{}", "expires": null}\n',
            "whole deployment's export",
        ),
        ('{"namespace": "nothing", "key": "k", "value": "{}"}\n', "line 1, is not an item"),
        ("not json\n", "line 1, is not an item"),
    ],
    ids=["a deployment's export", "an unknown namespace", "not JSON"],
)
async def test_import_refuses_what_is_not_one_salons_export(
    tmp_path: Path, cheap_hasher: PasswordHasher, text: str, says: str
) -> None:
    runtime = Runtime.from_settings(multi(tmp_path), password_hasher=cheap_hasher)
    async with runtime.opened():
        operations = operations_of(runtime)
        maya = await operations.tenants.create("maya", "Maya", "o@maya.test")
        (tmp_path / "in.jsonl").write_text(text)
        with pytest.raises(InvalidInput, match=says):
            await operations.import_file("maya", tmp_path / "in.jsonl", actor=OPERATOR)
        assert (await operations.usage(maya)).items == 0
