"""From one salon to many without a logout: a single-salon deployment (SQLite, Redis or
PostgreSQL) becomes the first salon
of a multi-tenant one by its settings, ``parlour tenant create --adopt`` and ``parlour tenant
domain add`` (its old host). A staff session and a manage link made with one salon still work
at the salon's hosts with many, and are worthless at another salon's. And ``parlour migrate``
with many salons copies every salon's namespaces and the platform's."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour import migration
from parlour.cli import main
from parlour.config import env_name, load_settings
from parlour.runtime import Runtime
from parlour.services.operations import CLI
from parlour.services.tenants import PLATFORM
from parlour.storage import KVStore
from parlour.storage.sqlite import SQLiteBackend
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.backends import DURABLE_KINDS, KINDS, params
from support.salon import MASSAGE, ask, at, client, furnish, upcoming_weekday
from support.web import log_in, running

DOMAIN = "salons.test"
STAFF = "desk@maya.test"
PASSWORD = "correct horse battery"


@pytest.fixture(params=params(DURABLE_KINDS))
def stores(request: pytest.FixtureRequest) -> dict[str, object]:
    """The deployment's stores, as settings: SQLite (sessions in memory), Redis or PostgreSQL."""
    return KINDS[request.param].settings(request)


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., Awaitable[int]]]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    async def run(*argv: str, env: dict[str, str], stdin: str = "") -> int:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = await asyncio.to_thread(main, argv)  # as a command runs: its own event loop
        assert code == 0, capsys.readouterr().err
        return code

    yield run
    root.handlers[:], root.level = handlers, level


def visitor(app: Starlette, host: str, cookies: dict[str, str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://{host}", cookies=cookies
    )


async def test_the_first_salon_keeps_its_sessions_and_manage_links(
    tmp_path: Path, stores: dict[str, object], cli: Callable[..., Awaitable[int]]
) -> None:
    alone = create_app(load_settings(env_file=None, data_dir=tmp_path, **stores))
    async with running(alone) as browser:
        await furnish(parts(alone).runtime.storage.kv)
        await core(alone).accounts.create_user(STAFF, "admin", PASSWORD)
        await log_in(browser, STAFF, PASSWORD)
        booked = await core(alone).bookings.book(
            ask({"treatment": MASSAGE.id, "start": at(10, day=upcoming_weekday()), **client(1)})
        )
        assert (await browser.get("/admin")).status_code == 200
        session = {"parlour_session": browser.cookies["parlour_session"]}
    manage = f"/booking/{booked.token}"

    env = {
        "PARLOUR_DATA_DIR": str(tmp_path),
        "PARLOUR_TENANCY": "multi",
        "PARLOUR_PLATFORM_DOMAIN": DOMAIN,
        **{env_name(name): str(value) for name, value in stores.items()},
        # The commands' first connection, on a machine busy with other tests (a CI run saw
        # PostgreSQL take longer than the default deadline): keys are the subject here.
        "PARLOUR_DATABASE_TIMEOUT": "5",
        "PARLOUR_REDIS_TIMEOUT": "5",
    }
    run = cli
    await run(
        "tenant",
        "create",
        "--adopt",
        "--slug",
        "maya",
        "--name",
        "Maya",
        "--owner-email",
        STAFF,
        env=env,
    )
    await run("tenant", "domain", "add", "--slug", "maya", "--host", "book.maya.example", env=env)

    many = create_app(
        load_settings(
            env_file=None, data_dir=tmp_path, tenancy="multi", platform_domain=DOMAIN, **stores
        )
    )
    async with running(many):
        tenants = parts(many).runtime.tenants
        assert tenants is not None
        await tenants.create("jonah", "Jonah", STAFF)  # another salon, the same e-mail
        for host in ("book.maya.example", f"maya.{DOMAIN}"):
            async with visitor(many, host, session) as staff:
                desk = await staff.get("/admin")
                assert desk.status_code == 200, host
                assert STAFF in desk.text
                page = await staff.get(manage)
                assert page.status_code == 200, host
                assert MASSAGE.name in page.text
        async with visitor(many, f"jonah.{DOMAIN}", session) as elsewhere:
            assert (await elsewhere.get("/admin")).status_code == 303  # to jonah's login
            assert (await elsewhere.get(manage)).status_code == 404


async def test_migrate_with_many_salons_copies_every_salons_namespaces(tmp_path: Path) -> None:
    settings = load_settings(
        env_file=None, data_dir=tmp_path, tenancy="multi", platform_domain=DOMAIN
    )
    runtime = Runtime.from_settings(settings)
    async with runtime.opened():
        assert runtime.tenants is not None
        for slug in ("maya", "jonah"):
            salon = await runtime.tenants.create(slug, slug.title(), f"o@{slug}.test")
            await furnish(runtime.storage.salon(salon.space).kv)
        await runtime.core.audit.record(CLI, "note", "platform")  # the platform's own space
        route = runtime.storage.backend_for
        assert await migration.every_namespace(settings, route, ["treatments", "tenants"]) == [
            "treatments",  # the adopted salon's, if one adopts
            "treatments@platform",
            "treatments@jonah",
            "treatments@maya",
            "tenants",
        ]
    everything = list(migration.MOVABLE)
    target = f"sqlite:{tmp_path / 'copy.db'}"

    assert await migration.migrate(settings, "configured", target, everything, False) == 0
    assert await migration.verify(settings, "configured", target, everything) == 0

    copied = SQLiteBackend(tmp_path / "copy.db")
    await copied.open()
    try:
        for namespace in ("treatments@maya", "treatments@jonah", f"audit@{PLATFORM}", "tenants"):
            assert await KVStore(copied, namespace).get_all_items(), namespace
    finally:
        await copied.close()

    backup = tmp_path / "all.jsonl"  # a whole deployment's backup, and its restore elsewhere
    assert await migration.export(settings, backup, everything) == 0
    elsewhere = load_settings(
        env_file=None, data_dir=tmp_path / "new", tenancy="multi", platform_domain=DOMAIN
    )
    assert await migration.import_(elsewhere, backup, everything) == 0
    assert await migration.verify(settings, "configured", f"file:{backup}", everything) == 0
    restored = Runtime.from_settings(elsewhere)
    async with restored.opened():
        assert restored.tenants is not None
        assert [salon.slug for salon in await restored.tenants.all()] == ["jonah", "maya"]
        maya = restored.storage.salon("maya")
        assert len(await maya.kv("treatments").get_all_items()) == 3


async def test_import_with_many_salons_refuses_a_file_of_no_salon_here(tmp_path: Path) -> None:
    alone = load_settings(env_file=None, data_dir=tmp_path / "alone")
    single = Runtime.from_settings(alone)
    async with single.opened():
        await furnish(single.storage.kv)
    backup = tmp_path / "alone.jsonl"
    assert await migration.export(alone, backup, list(migration.MOVABLE)) == 0
    many = load_settings(env_file=None, data_dir=tmp_path, tenancy="multi", platform_domain=DOMAIN)

    assert await migration.import_(many, backup, list(migration.MOVABLE)) == 1

    runtime = Runtime.from_settings(many)
    async with runtime.opened():
        assert await runtime.storage.salon(None).kv("treatments").get_all_items() == {}
        assert runtime.tenants is not None
        await runtime.tenants.create("first", "First", "o@first.test", adopt=True)
    assert await migration.import_(many, backup, list(migration.MOVABLE)) == 0  # now it has one
