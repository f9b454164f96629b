"""One registry of backends: chosen by name or URL scheme, refused clearly, built lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from parlour.config import load_settings
from parlour.errors import ConfigurationError
from parlour.storage import Storage, backend_for_spec
from parlour.storage.registry import BACKENDS, Reach, check_settings


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"data_backend": "mongo"},
            "PARLOUR_DATA_BACKEND='mongo' is not a backend Parlour knows; choose from "
            "memory, sqlite, redis, postgres",
        ),
        (
            {"sessions_backend": "cassandra"},
            "PARLOUR_SESSIONS_BACKEND='cassandra' is not a backend Parlour knows; choose from "
            "auto, memory, sqlite, redis, postgres",
        ),
        (
            {"ratelimit_backend": "sqlite"},
            "PARLOUR_RATELIMIT_BACKEND=sqlite cannot hold rate-limit windows; choose from "
            "auto, memory, redis, postgres",
        ),
        ({"data_backend": "redis"}, "PARLOUR_DATA_BACKEND=redis needs REDIS_URL"),
        ({"data_backend": "postgres"}, "PARLOUR_DATA_BACKEND=postgres needs DATABASE_URL"),
    ],
    ids=["unknown-data", "unknown-sessions", "sqlite-limits", "redis-no-url", "postgres-no-url"],
)
def test_an_impossible_backend_is_a_configuration_error_naming_the_variable(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path, **overrides)
    with pytest.raises(ConfigurationError) as caught:
        Storage.from_settings(settings)
    assert message in str(caught.value)
    with pytest.raises(ConfigurationError):
        check_settings(settings)


def test_the_command_line_exits_2_with_the_message(tmp_path: Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "parlour", "check"],
        env={"PARLOUR_DATA_BACKEND": "mongo", "PARLOUR_DATA_DIR": str(tmp_path), "PATH": ""},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert ran.returncode == 2, ran.stderr
    assert "PARLOUR_DATA_BACKEND='mongo' is not a backend Parlour knows" in ran.stderr


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("redis://127.0.0.1:6379/0", "redis"),
        ("redis+sentinel://h:26379/m", "redis"),
        ("postgresql://u:pw@127.0.0.1:5432/db", "postgres"),
        ("postgres://u@127.0.0.1/db?sslmode=require", "postgres"),
        ("sqlite:/tmp/x.db", "sqlite"),
        ("memory", "memory"),
    ],
)
def test_stores_are_named_by_url_scheme(tmp_path: Path, spec: str, name: str) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path)
    assert backend_for_spec(spec, settings).name == name


def test_an_unknown_scheme_names_the_choices_and_masks_the_password(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path)
    with pytest.raises(ConfigurationError) as caught:
        backend_for_spec("mysql://root:hunter2@db/x", settings)
    assert "hunter2" not in str(caught.value)
    assert "postgresql" in str(caught.value)
    assert "redis+cluster" in str(caught.value)


def test_each_backend_says_what_it_can_serve() -> None:
    assert BACKENDS["memory"].reach is Reach.PROCESS
    assert BACKENDS["sqlite"].reach is Reach.HOST
    assert BACKENDS["sqlite"].ratelimits is None
    for shared in ("redis", "postgres"):
        assert BACKENDS[shared].reach is Reach.NETWORK
        assert BACKENDS[shared].events
        assert BACKENDS[shared].ratelimits is not None


def test_choosing_a_backend_imports_only_its_module(tmp_path: Path) -> None:
    probe = (
        "import sys; from parlour.config import load_settings; from parlour.storage import Storage;"
        f"Storage.from_settings(load_settings(env_file=None, data_dir={str(tmp_path)!r}));"
        "print('asyncpg' in sys.modules, 'redis' in sys.modules)"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert ran.stdout.split() == ["False", "False"]


def test_postgres_alone_keeps_sessions_and_limits_shared(tmp_path: Path) -> None:
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path,
        data_backend="postgres",
        database_url="postgresql://u:pw@db:5432/parlour",
    )
    assert settings.backend_for("sessions") == "postgres"
    assert settings.backend_for("ratelimit") == "postgres"
    plan = check_settings(settings)
    assert {entry.name for entry in plan.values()} == {"postgres"}
