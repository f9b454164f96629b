"""``parlour db upgrade|status``, ``parlour check`` and ``parlour serve`` on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from parlour.storage.postgres_schema import LATEST

from support.postgres_server import PASSWORD, PostgresServer

pytestmark = pytest.mark.postgres


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


def test_db_upgrade_status_check_and_serve_refusing_an_old_schema(
    tmp_path: Path, empty_postgres_url: str, postgres_server: PostgresServer
) -> None:
    postgres_url = empty_postgres_url
    env = {
        "PARLOUR_DATA_DIR": str(tmp_path),
        "PARLOUR_DATA_BACKEND": "postgres",
        "DATABASE_URL": postgres_url,
    }
    status = cli("db", "status", cwd=tmp_path, env=env)
    assert status.returncode == 0, status.stderr
    assert "no schema yet" in status.stdout
    upgraded = cli("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"schema upgraded from version 0 to {LATEST}" in upgraded.stdout
    again = cli("db", "upgrade", cwd=tmp_path, env=env)
    assert f"schema version {LATEST}, up to date" in again.stdout
    checked = cli("check", cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"schema version {LATEST} (current)" in checked.stdout
    assert "PostgreSQL 1" in checked.stdout
    everything = checked.stdout + checked.stderr + upgraded.stdout + status.stdout
    assert PASSWORD not in everything  # DATABASE_URL is shown, its password masked
    assert "DATABASE_URL=postgresql://parlour:********@" in checked.stdout

    postgres_server.sql(
        f"UPDATE parlour_schema SET version = {LATEST - 1}", postgres_url.rsplit("/", 1)[1]
    )
    refused = cli("serve", "--port", "1", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert "run `parlour db upgrade`" in refused.stderr
