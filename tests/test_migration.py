"""Moving between stores without logging anyone out or losing a booking."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from parlour import migration
from parlour.config import Settings, load_settings
from parlour.errors import StorageUnavailable
from parlour.services.sessions import storage_key
from parlour.storage import KVStore, Storage, backend_for_spec
from parlour.storage.dual import DualBackend
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.redis_server import RedisServer
from support.salon import MASSAGE, ask, at, client, furnish, upcoming_weekday
from support.web import form_token, log_in, running

PASSWORD = "correct horse battery"
STAFF = "staff@example.com"


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "parlour", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_restart_keeps_everyone_logged_in(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path)
    first = create_app(settings)
    async with running(first) as browser:
        await core(first).accounts.create_user(STAFF, "staff", PASSWORD)
        await log_in(browser, STAFF, PASSWORD)
        cookies = browser.cookies
    assert (tmp_path / "memory.jsonl").stat().st_mode & 0o777 == 0o600
    second = create_app(settings)  # a new process, same data directory
    async with running(second) as browser:
        browser.cookies = cookies
        assert (await browser.get("/admin")).status_code == 200


def dual_write(data_dir: Path, redis_url: str, old: RedisServer) -> Settings:
    """Durable data on ``redis_url``, still mirrored to the ``old`` Redis."""
    return load_settings(
        env_file=None,
        data_dir=data_dir,
        redis_url=redis_url,
        data_backend="redis",
        migration_mode="dual-write",
        migration_from=old.url,
        migration_namespaces="bookings,treatments,resources,business",
    )


async def seeded(settings_dir: Path) -> None:
    settings = load_settings(env_file=None, data_dir=settings_dir)
    async with Storage.from_settings(settings) as storage:
        catalogue = await furnish(storage.kv)
        from parlour.services.bookings.engine import BookingService

        service = BookingService(storage.kv("bookings"), catalogue)
        for hour in (9, 11, 14):
            await service.book(
                ask(
                    {
                        "treatment": MASSAGE.id,
                        "start": at(hour, day=upcoming_weekday()),
                        **client(hour),
                    }
                )
            )
        await storage.kv("sessions").set_item("s1", {"user": "u1"}, ttl=600)


@pytest.mark.redis
async def test_migrate_copies_with_ttls_never_overwrites_and_can_repeat(
    tmp_path: Path, redis_url: str, redis_server: RedisServer
) -> None:
    await seeded(tmp_path)
    settings = load_settings(env_file=None, data_dir=tmp_path)
    target = backend_for_spec(redis_url, settings)
    await target.open()
    try:
        newer = KVStore(target, "treatments")
        await newer.set_item(MASSAGE.id, {"written": "at the destination, since"})
        assert await migration.migrate(settings, "sqlite", redis_url, ["treatments"], True) == 0
        assert await newer.get_all_items() == {MASSAGE.id: {"written": "at the destination, since"}}
        await migration.migrate(settings, "sqlite", redis_url, list(migration.MOVABLE), False)
        await migration.migrate(settings, "memory", redis_url, ["sessions"], False)
        assert await newer.get_item(MASSAGE.id) == {"written": "at the destination, since"}
        assert len(await newer.get_all_items()) == 3
        with redis_server.client() as raw:
            assert 0 < raw.pttl("parlour:{sessions}:v:s1") <= 600_000
    finally:
        await target.close()


@pytest.mark.redis
def test_verify_finds_differences_and_says_so_in_its_exit_code(
    tmp_path: Path, redis_url: str, redis_server: RedisServer
) -> None:
    asyncio.run(seeded(tmp_path))
    env = {"PARLOUR_DATA_DIR": str(tmp_path)}
    copied = cli("migrate", "--from", "sqlite", "--to", redis_url, cwd=tmp_path, env=env)
    assert copied.returncode == 0, copied.stderr
    assert "nothing at the destination was overwritten" in copied.stdout
    again = cli("migrate", "--from", "sqlite", "--to", redis_url, cwd=tmp_path, env=env)
    assert "Copied 0 items" in again.stdout
    same = cli("verify", "--from", "sqlite", "--to", redis_url, cwd=tmp_path, env=env)
    assert same.returncode == 0
    assert "The stores hold the same items." in same.stdout
    with redis_server.client() as raw:
        raw.set(f"parlour:{{treatments}}:v:{MASSAGE.id}", '{"changed":true}')
    different = cli("verify", "--from", "sqlite", "--to", redis_url, cwd=tmp_path, env=env)
    assert different.returncode == 1
    assert f"different: '{MASSAGE.id}'" in different.stdout


def test_export_and_import_round_trip(tmp_path: Path) -> None:
    asyncio.run(seeded(tmp_path / "before"))
    backup = tmp_path / "backup.jsonl"
    exported = cli(
        "export", str(backup), cwd=tmp_path, env={"PARLOUR_DATA_DIR": str(tmp_path / "before")}
    )
    assert exported.returncode == 0, exported.stderr
    after = {"PARLOUR_DATA_DIR": str(tmp_path / "after")}
    assert cli("import", str(backup), cwd=tmp_path, env=after).returncode == 0
    compared = cli(
        "verify",
        "--from",
        f"sqlite:{tmp_path / 'before' / 'parlour.db'}",
        "--to",
        f"sqlite:{tmp_path / 'after' / 'parlour.db'}",
        cwd=tmp_path,
    )
    assert compared.returncode == 0, compared.stdout
    missing = cli("import", str(tmp_path / "nope.jsonl"), cwd=tmp_path, env=after)
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr


@pytest.mark.redis
async def test_a_switch_to_redis_through_dual_write_logs_nobody_out(
    tmp_path: Path, redis_url: str
) -> None:
    alone = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(alone) as browser:
        await core(alone).accounts.create_user(STAFF, "staff", PASSWORD)
        await log_in(browser, STAFF, PASSWORD)
        cookies = browser.cookies
    switched = create_app(
        load_settings(
            env_file=None,
            data_dir=tmp_path,
            redis_url=redis_url,
            migration_mode="dual-write",
            migration_from="memory",
            migration_namespaces="sessions",
        )
    )
    async with running(switched) as browser:
        browser.cookies = cookies
        page = await browser.get("/admin/account")
        assert page.status_code == 200  # the session made before the switch still works
        dual = parts(switched).storage.backend_for("sessions")
        assert isinstance(dual, DualBackend)
        key = storage_key(cookies["parlour_session"])
        assert await dual.new.get("sessions", key) is not None  # copied into Redis on first read
        out = await browser.post("/logout", data={"csrf_token": form_token(page.text)})
        assert out.status_code == 303
        browser.cookies = cookies
        assert (await browser.get("/admin")).status_code == 303  # ended on both stores


@pytest.mark.redis
async def test_a_failed_write_to_the_old_store_is_logged_and_counted(
    tmp_path: Path, redis_url: str, private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(dual_write(tmp_path, redis_url, private_redis))
    async with running(app):
        await furnish(parts(app).storage.kv)
        # A replica of nothing: it still answers reads and refuses every write (READONLY).
        private_redis.client().replicaof("127.0.0.1", "1")
        with caplog.at_level(logging.WARNING, logger="parlour.storage.dual"):
            booked = await core(app).bookings.book(
                ask({"treatment": MASSAGE.id, "start": at(10, day=upcoming_weekday()), **client()})
            )
        assert booked.created  # the new store has it: the booking stands
        dual = parts(app).storage.backend_for("bookings")
        assert isinstance(dual, DualBackend)
        assert dual.old_write_failures > 0
        assert "reached the new backend but not the old one" in caplog.text


@pytest.mark.redis
async def test_a_dead_old_store_fails_bookings_but_not_reads(
    tmp_path: Path, redis_url: str, private_redis: RedisServer
) -> None:
    app = create_app(dual_write(tmp_path, redis_url, private_redis))
    async with running(app) as browser:
        await furnish(parts(app).storage.kv)
        private_redis.stop()
        # Plain reads answer from the new store alone ...
        assert MASSAGE.name in (await browser.get("/")).text
        dual = parts(app).storage.backend_for("treatments")
        assert isinstance(dual, DualBackend)
        assert dual.old_read_failures > 0
        # ... but whether a slot is free may be known only to the old store: no guessing.
        with pytest.raises(StorageUnavailable):
            await core(app).bookings.book(
                ask({"treatment": MASSAGE.id, "start": at(10, day=upcoming_weekday()), **client()})
            )


@pytest.mark.redis
async def test_rolling_back_to_memory_keeps_sessions(tmp_path: Path, redis_url: str) -> None:
    on_redis = create_app(load_settings(env_file=None, data_dir=tmp_path, redis_url=redis_url))
    async with running(on_redis) as browser:
        await core(on_redis).accounts.create_user(STAFF, "staff", PASSWORD)
        await log_in(browser, STAFF, PASSWORD)
        cookies = browser.cookies
    settings = load_settings(env_file=None, data_dir=tmp_path)
    await migration.migrate(settings, redis_url, "memory", ["sessions"], False)
    back = create_app(settings)  # REDIS_URL removed: back to one instance
    async with running(back) as browser:
        browser.cookies = cookies
        assert (await browser.get("/admin")).status_code == 200
