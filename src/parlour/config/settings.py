"""The one Settings class, built from the groups, and how it is loaded and explained.

:class:`Settings` is one pydantic-settings class, so every variable keeps its flat name
(``PARLOUR_*``, and ``REDIS_URL``, ``DATABASE_URL``...); its fields come from the group classes,
one per section of ``.env.example``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import AliasChoices, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from parlour.config.business import BusinessSettings
from parlour.config.limits import LimitSettings
from parlour.config.mail import DeliverySettings, SmtpSettings
from parlour.config.security import AccessSettings, SessionSettings
from parlour.config.serving import ServingSettings
from parlour.config.storage import DataSettings, MigrationSettings, PostgresSettings, RedisSettings
from parlour.config.tenancy import TenancySettings
from parlour.config.values import display, mask_url_password
from parlour.config.vocabulary import BackendName
from parlour.errors import ConfigurationError

_TEST_ONLY_PREFIX = "PARLOUR_TEST_"


class Settings(
    # pydantic takes fields from the last base first: the groups are listed last to first, so the
    # variables keep the order `parlour check` prints them in (tests/test_config.py holds it).
    TenancySettings,
    DeliverySettings,
    BusinessSettings,
    SmtpSettings,
    ServingSettings,
    MigrationSettings,
    AccessSettings,
    LimitSettings,
    SessionSettings,
    PostgresSettings,
    DataSettings,
    RedisSettings,
    BaseSettings,
):
    """The whole configuration of one Parlour process."""

    model_config = SettingsConfigDict(
        env_prefix="PARLOUR_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    def backend_for(self, namespace: str) -> BackendName:
        """The backend that serves ``namespace`` under these settings."""
        if namespace == "sessions":
            choice: str = self.sessions_backend
        elif namespace == "ratelimit":
            choice = self.ratelimit_backend
        else:
            return self.data_backend
        if choice != "auto":
            return choice
        if self.redis_url:
            return "redis"
        # Durable data on a shared database and no Redis: keep logins and limits shared too.
        return "postgres" if self.data_backend == "postgres" else "memory"

    def describe(self) -> Iterator[tuple[str, str]]:
        """``(VARIABLE, value)`` for every setting, secrets masked, for people to read."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                shown = "********"
            elif name in ("redis_url", "smtp_url", "database_url") and value:
                shown = mask_url_password(value)
            else:
                shown = display(value)
            yield env_name(name), shown


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    info = Settings.model_fields[field]
    if isinstance(info.validation_alias, AliasChoices):
        first = info.validation_alias.choices[0]
        assert isinstance(first, str)
        return first
    return f"PARLOUR_{field.upper()}"


def load_settings(*, env_file: Path | str | None = ".env", **overrides: Any) -> Settings:
    """Build :class:`Settings` from the environment, ``env_file`` and explicit overrides.

    Raises :class:`ConfigurationError` with one line per problem, each naming the variable.
    """
    names = set(os.environ)
    if env_file is not None and Path(env_file).is_file():
        names |= set(dotenv_values(env_file))
    _reject_unknown_variables(names)
    try:
        settings = Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        raise ConfigurationError(_explain(exc)) from exc
    _check_consistency(settings)
    return settings


def _reject_unknown_variables(names: Iterable[str]) -> None:
    known = {env_name(field) for field in Settings.model_fields}
    problems = []
    for name in sorted(names):
        if name in known or not name.startswith("PARLOUR_") or name.startswith(_TEST_ONLY_PREFIX):
            continue
        guess = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"; did you mean {guess[0]}?" if guess else "; see .env.example"
        problems.append(f"{name} is not a Parlour setting{hint}")
    if problems:
        raise ConfigurationError("\n".join(problems))


def _explain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        name = env_name(field) if field in Settings.model_fields else field
        given = error.get("input")
        shown = "" if isinstance(given, dict) or given is None else f"={given!r}"
        if name in ("REDIS_PASSWORD", "PARLOUR_SECRET_KEY", "PARLOUR_METRICS_TOKEN"):
            shown = ""
        elif name in ("REDIS_URL", "DATABASE_URL", "PARLOUR_SMTP_URL") and isinstance(given, str):
            shown = f"={mask_url_password(given)!r}"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}{shown} is not valid: {message}")
    return "\n".join(lines)


def _check_consistency(settings: Settings) -> None:
    problems = []
    if settings.session_absolute_timeout < settings.session_idle_timeout:
        problems.append(
            "PARLOUR_SESSION_ABSOLUTE_TIMEOUT is shorter than PARLOUR_SESSION_IDLE_TIMEOUT; "
            "make it at least as long"
        )
    if settings.migration_mode == "dual-write" and not settings.migration_from:
        problems.append(
            "PARLOUR_MIGRATION_MODE=dual-write needs PARLOUR_MIGRATION_FROM, the old store: "
            "memory, sqlite, sqlite:PATH, file:PATH or a redis:// URL"
        )
    if settings.tenancy == "multi" and not settings.platform_domain:
        problems.append(
            "PARLOUR_TENANCY=multi needs PARLOUR_PLATFORM_DOMAIN, the domain salons are served "
            "under, e.g. PARLOUR_PLATFORM_DOMAIN=example.net"
        )
    if problems:
        raise ConfigurationError("\n".join(problems))
