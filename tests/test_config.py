"""Settings: defaults, the REDIS_URL switch, clear errors, and an .env.example that stays true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

import parlour.config
from parlour.config import NAMESPACES, Rate, Settings, display, env_name, load_settings
from parlour.errors import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent

VARIABLES = (
    "REDIS_URL=",
    "REDIS_TLS_ENABLED=false",
    "REDIS_CLUSTER=false",
    "REDIS_PASSWORD=",
    "PARLOUR_REDIS_PREFIX=parlour",
    "PARLOUR_REDIS_TIMEOUT=0.5",
    "PARLOUR_REDIS_REPLICA_ACK=auto",
    "PARLOUR_REDIS_POOL_SIZE=50",
    "PARLOUR_DATA_DIR=data",
    "PARLOUR_SECRET_KEY=",
    "PARLOUR_SESSIONS_BACKEND=auto",
    "PARLOUR_RATELIMIT_BACKEND=auto",
    "PARLOUR_DATA_BACKEND=sqlite",
    "DATABASE_URL=",
    "PARLOUR_DATABASE_TIMEOUT=0.5",
    "PARLOUR_DATABASE_POOL_SIZE=10",
    "PARLOUR_PUBLIC_ORIGIN=",
    "PARLOUR_ALLOWED_HOSTS=",
    "PARLOUR_SESSION_IDLE_TIMEOUT=7200",
    "PARLOUR_SESSION_ABSOLUTE_TIMEOUT=43200",
    "PARLOUR_SESSION_CACHE_SIZE=10000",
    "PARLOUR_BOOKING_RATE_LIMIT=3/15 minutes",
    "PARLOUR_LOGIN_RATE_LIMIT=10/15 minutes",
    "PARLOUR_LOGIN_ACCOUNT_RATE_LIMIT=100/1 day",
    "PARLOUR_REVIEW_RATE_LIMIT=5/1 hour",
    "PARLOUR_PASSWORD_RESET_RATE_LIMIT=3/1 hour",
    "PARLOUR_BOOKING_RATE_LIMIT_OUTAGE=open",
    "PARLOUR_LOGIN_RATE_LIMIT_OUTAGE=closed",
    "PARLOUR_REVIEW_RATE_LIMIT_OUTAGE=open",
    "PARLOUR_PASSWORD_HASH_THREADS=1",
    "PARLOUR_PASSWORD_HASH_QUEUE=64",
    "PARLOUR_REQUIRE_2FA=false",
    "PARLOUR_TRUSTED_PROXIES=",
    "PARLOUR_MIGRATION_MODE=off",
    "PARLOUR_MIGRATION_FROM=",
    "PARLOUR_MIGRATION_NAMESPACES=",
    "PARLOUR_HOST=127.0.0.1",
    "PARLOUR_PORT=8000",
    "PARLOUR_REQUEST_HEADER_TIMEOUT=10.0",
    "PARLOUR_REQUEST_BODY_TIMEOUT=60.0",
    "PARLOUR_SHUTDOWN_GRACE=10.0",
    "PARLOUR_METRICS_TOKEN=",
    "PARLOUR_METRICS_BIND=",
    "PARLOUR_LOG_LEVEL=info",
    "PARLOUR_LOG_FORMAT=text",
    "PARLOUR_SMTP_URL=",
    "PARLOUR_MAIL_FROM=Parlour <parlour@localhost>",
    "PARLOUR_SMTP_TIMEOUT=10.0",
    "PARLOUR_REMINDER_BEFORE=86400",
    "PARLOUR_STAFF_ALERTS_TO=",
    "PARLOUR_THERAPIST_ALERTS=true",
    "PARLOUR_MAIL_MAX_ATTEMPTS=10",
    "PARLOUR_MAIL_RETRY_BASE=30.0",
    "PARLOUR_MAIL_RECIPIENT_RATE_LIMIT=5/1 hour",
    "PARLOUR_MAIL_GLOBAL_RATE_LIMIT=500/1 hour",
    "PARLOUR_TENANCY=single",
    "PARLOUR_PLATFORM_DOMAIN=",
    "PARLOUR_SALONS_KEPT=1000",
    "PARLOUR_PLATFORM_RATE_LIMIT=300/1 minute",
    "PARLOUR_SIGNUP_RATE_LIMIT=3/1 hour",
)
"""Every variable with its default, in the order `parlour check` prints them: taken from the flat
``config.py`` before it became a package of groups (issue 22), so the groups change none of it."""


def test_defaults_are_the_single_instance_layout() -> None:
    settings = load_settings(env_file=None)
    assert settings.redis_url is None
    assert {ns: settings.backend_for(ns) for ns in NAMESPACES} == {
        "sessions": "memory",
        "ratelimit": "memory",
        "users": "sqlite",
        "business": "sqlite",
        "treatments": "sqlite",
        "resources": "sqlite",
        "bookings": "sqlite",
        "reviews": "sqlite",
        "gallery": "sqlite",
        "audit": "sqlite",
        "clients": "sqlite",
        "tenants": "sqlite",
    }
    assert settings.database_path == Path("data/parlour.db")


def test_redis_url_moves_sessions_and_limits_but_not_durable_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    settings = load_settings(env_file=None)
    assert settings.backend_for("sessions") == "redis"
    assert settings.backend_for("ratelimit") == "redis"
    assert settings.backend_for("bookings") == "sqlite"
    monkeypatch.setenv("PARLOUR_DATA_BACKEND", "redis")
    monkeypatch.setenv("PARLOUR_SESSIONS_BACKEND", "memory")
    settings = load_settings(env_file=None)
    assert settings.backend_for("bookings") == "redis"
    assert settings.backend_for("sessions") == "memory"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "REDIS_URL",
            "http://cache:6379",
            "REDIS_URL='http://cache:6379' is not valid: the scheme",
        ),
        ("PARLOUR_DATA_BACKEND", "mon:go", "PARLOUR_DATA_BACKEND='mon:go' is not valid"),
        ("REDIS_URL", "http://u:pw@cache:6379", "REDIS_URL='http://u:********@cache:6379'"),
        ("DATABASE_URL", "mysql://u:pw@db/x", "DATABASE_URL='mysql://u:********@db/x'"),
        ("PARLOUR_REDIS_TIMEOUT", "-1", "PARLOUR_REDIS_TIMEOUT='-1' is not valid"),
        ("PARLOUR_PORT", "eighty", "PARLOUR_PORT='eighty' is not valid"),
        ("PARLOUR_REDIS_PREFIX", "a:b", "PARLOUR_REDIS_PREFIX='a:b' is not valid"),
        ("PARLOUR_SECRET_KEY", "short", "PARLOUR_SECRET_KEY is not valid"),
        ("PARLOUR_DATA_BACKND", "sqlite", "did you mean PARLOUR_DATA_BACKEND?"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_invalid_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env_file=None)
    assert message in str(caught.value)
    if variable == "PARLOUR_SECRET_KEY":
        assert value not in str(caught.value)  # secrets are never echoed


def test_dotenv_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PARLOUR_PORT=9001\nPARLOUR_HOST=0.0.0.0\n")
    monkeypatch.setenv("PARLOUR_HOST", "10.0.0.1")
    settings = load_settings(env_file=env_file)
    assert (settings.host, settings.port) == ("10.0.0.1", 9001)


def test_a_typo_in_dotenv_is_caught_too(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PARLOUR_PROT=9001\n")
    with pytest.raises(ConfigurationError, match="PARLOUR_PROT is not a Parlour setting"):
        load_settings(env_file=env_file)


def test_settings_are_frozen() -> None:
    settings = load_settings(env_file=None)
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_describe_masks_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://user:hunter2@cache:6379/0")
    monkeypatch.setenv("REDIS_PASSWORD", "correct-horse")
    monkeypatch.setenv("PARLOUR_SECRET_KEY", "s" * 40)
    shown = dict(load_settings(env_file=None).describe())
    text = "\n".join(shown.values())
    for secret in ("hunter2", "correct-horse", "s" * 40):
        assert secret not in text
    assert shown["REDIS_URL"] == "redis://user:********@cache:6379/0"


def test_env_example_lists_every_variable_with_its_default() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    listed = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))

    assert listed == {env_name(f): display(i.default) for f, i in Settings.model_fields.items()}


def test_a_copy_of_env_example_gives_the_defaults() -> None:
    assert load_settings(env_file=ROOT / ".env.example") == load_settings(env_file=None)


@pytest.mark.parametrize(
    ("written", "rate"),
    [
        ("3/15 minutes", Rate(3, 900)),
        ("10/hour", Rate(10, 3600)),
        ("100 / 1 day", Rate(100, 86400)),
        ("5/30 seconds", Rate(5, 30)),
        ("1/1 Minute", Rate(1, 60)),
    ],
)
def test_rate_limits_are_written_as_limit_per_window(
    monkeypatch: pytest.MonkeyPatch, written: str, rate: Rate
) -> None:
    monkeypatch.setenv("PARLOUR_BOOKING_RATE_LIMIT", written)
    assert load_settings(env_file=None).booking_rate_limit == rate


@pytest.mark.parametrize("written", ["3", "3/fortnight", "0/1 hour", "3/0 minutes", "-1/hour", ""])
def test_a_bad_rate_limit_says_how_to_write_one(
    monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    monkeypatch.setenv("PARLOUR_LOGIN_RATE_LIMIT", written)
    with pytest.raises(ConfigurationError, match=r"PARLOUR_LOGIN_RATE_LIMIT=.* is not valid"):
        load_settings(env_file=None)


def test_trusted_proxies_are_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLOUR_TRUSTED_PROXIES", "127.0.0.1, 10.1.0.0/16,::1")
    proxies = load_settings(env_file=None).trusted_proxies
    assert [str(network) for network in proxies] == ["127.0.0.1/32", "10.1.0.0/16", "::1/128"]
    monkeypatch.setenv("PARLOUR_TRUSTED_PROXIES", "10.0.0.1,nginx")
    with pytest.raises(ConfigurationError, match=r"PARLOUR_TRUSTED_PROXIES=.* is not valid"):
        load_settings(env_file=None)


def test_the_groups_keep_every_variable_its_default_and_its_place() -> None:
    defaults = tuple(
        f"{env_name(f)}={display(i.default)}" for f, i in Settings.model_fields.items()
    )
    assert defaults == VARIABLES
    shown = [name for name, _ in load_settings(env_file=None).describe()]
    assert shown == [variable.split("=", 1)[0] for variable in VARIABLES]


@pytest.mark.parametrize(
    "variable",
    [
        "REDIS_URL",
        "REDIS_PASSWORD",
        "DATABASE_URL",
        "PARLOUR_SECRET_KEY",
        "PARLOUR_PUBLIC_ORIGIN",
        "PARLOUR_MIGRATION_FROM",
        "PARLOUR_SMTP_URL",
        "PARLOUR_METRICS_TOKEN",
        "PARLOUR_METRICS_BIND",
    ],
)
def test_an_empty_variable_leaves_its_setting_unset(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "")
    field = next(f for f in Settings.model_fields if env_name(f) == variable)
    assert getattr(load_settings(env_file=None), field) is None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PARLOUR_PUBLIC_ORIGIN", "ftp://x/y", "write scheme and host only"),
        ("PARLOUR_SMTP_URL", "smtp://h:x", "the port must be a number"),
        ("PARLOUR_MAIL_FROM", "nobody", "write an address, e.g. Salon Name"),
        ("PARLOUR_STAFF_ALERTS_TO", "a b", "write one address"),
        ("PARLOUR_METRICS_BIND", "x", "write HOST:PORT"),
        ("PARLOUR_ALLOWED_HOSTS", "a b", "'a b' is not a host name"),
        ("PARLOUR_MIGRATION_NAMESPACES", "ratelimit", "ratelimit: choose from sessions, users"),
        ("PARLOUR_REMINDER_BEFORE", "fortnight", "write a duration like 30 minutes"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_each_group_checks_its_own_variables(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env_file=None)
    assert str(caught.value).startswith(f"{variable}={value!r} is not valid: {message}")


def test_every_name_imported_from_the_package_is_there() -> None:
    imports = re.compile(r"^\s*from parlour\.config import ([\w, ]+)$", re.MULTILINE)
    imported = {
        name.strip()
        for folder in ("src", "tests", "bench")
        for path in (ROOT / folder).rglob("*.py")
        for names in imports.findall(path.read_text())
        for name in names.split(",")
    }
    assert "Settings" in imported
    assert sorted(name for name in imported if not hasattr(parlour.config, name)) == []
