"""Moving a salon onto PostgreSQL (and back) with nobody logged out and no booking lost."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from parlour.config import load_settings
from parlour.storage.dual import DualBackend
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import MASSAGE, at, client, furnish, upcoming_weekday
from support.web import log_in, running

pytestmark = pytest.mark.postgres
PASSWORD = "correct horse battery"
STAFF = "staff@example.com"
SECRET = "one secret for the salon before and after the move"


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parlour", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def book_three(browser: httpx.AsyncClient) -> dict[str, str]:
    tokens = {}
    for hour in (9, 11, 14):
        start = at(hour, day=upcoming_weekday())
        answer = await browser.post(
            "/api/bookings", json={"treatment": MASSAGE.id, "start": start, **client(hour)}
        )
        assert answer.status_code == 201, answer.text
        tokens[answer.json()["manage_token"]] = start
    return tokens


async def test_a_populated_sqlite_salon_moves_to_postgres_with_nobody_logged_out(
    tmp_path: Path, postgres_url: str
) -> None:
    alone = create_app(load_settings(env_file=None, data_dir=tmp_path, secret_key=SECRET))
    async with running(alone) as browser:
        await furnish(parts(alone).storage.kv)
        await core(alone).accounts.create_user(STAFF, "staff", PASSWORD)
        await log_in(browser, STAFF, PASSWORD)
        cookies = browser.cookies
        transport = httpx.ASGITransport(app=alone)
        async with httpx.AsyncClient(transport=transport, base_url=browser.base_url) as anonymous:
            tokens = await book_three(anonymous)  # a client of the API, without cookies

    env = {"PARLOUR_DATA_DIR": str(tmp_path), "DATABASE_URL": postgres_url}
    for source, target, extra in (
        ("sqlite", postgres_url, []),  # the URL: its scheme names the backend
        ("memory", "postgres", ["--namespace", "sessions"]),  # the name: DATABASE_URL
    ):
        moved = cli("migrate", "--from", source, "--to", target, *extra, cwd=tmp_path, env=env)
        assert moved.returncode == 0, moved.stderr
        assert "test-secret-pw" not in moved.stdout + moved.stderr
        same = cli("verify", "--from", source, "--to", target, *extra, cwd=tmp_path, env=env)
        assert same.returncode == 0, same.stdout
        assert "The stores hold the same items." in same.stdout

    moved_app = create_app(
        load_settings(
            env_file=None,
            data_dir=tmp_path / "elsewhere",  # nothing of the old host is read
            data_backend="postgres",
            database_url=postgres_url,
            secret_key=SECRET,
        )
    )
    async with running(moved_app) as browser:
        assert parts(moved_app).storage.backend_for("sessions").name == "postgres"
        browser.cookies = cookies
        assert (await browser.get("/admin")).status_code == 200  # still logged in
        for token, start in tokens.items():
            found = await browser.get(f"/api/bookings/{token}")
            assert found.status_code == 200, token
            assert found.json()["start"].replace("Z", "+00:00") == start


@pytest.mark.parametrize("postgres_is", ["new", "old"])
async def test_dual_write_and_verify_with_postgres_on_either_side(
    tmp_path: Path, postgres_url: str, postgres_is: str
) -> None:
    if postgres_is == "new":
        options = {"data_backend": "postgres", "database_url": postgres_url}
        old = "sqlite"
    else:  # moving back from PostgreSQL to one host's SQLite
        options = {"data_backend": "sqlite"}
        old = postgres_url
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path,
        secret_key=SECRET,
        migration_mode="dual-write",
        migration_from=old,
        migration_namespaces="bookings,treatments,resources,business",
        **options,
    )
    app = create_app(settings)
    async with running(app) as browser:
        await furnish(parts(app).storage.kv)
        assert isinstance(parts(app).storage.backend_for("bookings"), DualBackend)
        tokens = await book_three(browser)
        cancelled = next(iter(tokens))
        gone = await browser.post(f"/api/bookings/{cancelled}/cancel")
        assert gone.status_code == 200, gone.text
    env = {"PARLOUR_DATA_DIR": str(tmp_path), "DATABASE_URL": postgres_url}
    new = "postgres" if postgres_is == "new" else "sqlite"
    namespaces = [arg for n in ("bookings", "treatments") for arg in ("--namespace", n)]
    compared = await asyncio.to_thread(
        cli, "verify", "--from", old, "--to", new, *namespaces, cwd=tmp_path, env=env
    )
    assert compared.returncode == 0, compared.stdout
