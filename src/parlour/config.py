"""Settings: read once from the environment and ``.env``, frozen, passed explicitly.

``REDIS_URL``, ``REDIS_TLS_ENABLED`` and ``REDIS_PASSWORD`` keep the names operators already use;
everything else is ``PARLOUR_*``. Nothing here is read at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from parlour.errors import ConfigurationError

BackendName = str
"""A backend's name (memory, sqlite, redis, postgres, ...): plain text here, because the list of
backends lives in the storage layer (``parlour.storage.registry``), which checks it."""
_BACKEND_WORD = r"^[a-z][a-z0-9_+-]{0,31}$"
NAMESPACES = (
    "sessions",
    "ratelimit",
    "users",
    "business",
    "treatments",
    "resources",
    "bookings",
    "reviews",
    "gallery",
    "audit",
    "clients",
)
"""The kinds of record Parlour keeps. Sessions and rate limits follow ``REDIS_URL`` by default;
the rest is durable and moves only when ``PARLOUR_DATA_BACKEND`` says so."""

REDIS_SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "redis+sentinel",
    "rediss+sentinel",
    "redis+cluster",
    "rediss+cluster",
)
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` admissions in any ``window`` seconds: written ``3/15 minutes``."""

    limit: int
    window: float

    def __str__(self) -> str:
        for unit, seconds in reversed(_UNITS.items()):
            if self.window % seconds == 0:
                count = int(self.window // seconds)
                return f"{self.limit}/{count} {unit}{'s' if count != 1 else ''}"
        return f"{self.limit}/{self.window:g} seconds"


def parse_rate(value: object) -> Rate:
    if isinstance(value, Rate):
        return value
    match = _RATE.fullmatch(str(value))
    if not match:
        raise ValueError("write it as LIMIT/WINDOW, e.g. 3/15 minutes, 10/hour or 100/1 day")
    limit, count, unit = int(match[1]), int(match[2] or 1), match[3].lower()
    if limit < 1 or count < 1:
        raise ValueError("the limit and the window must both be at least 1")
    return Rate(limit, count * _UNITS[unit])


_DURATION = re.compile(r"\s*(\d+)\s*(?:(second|minute|hour|day)s?)?\s*", re.IGNORECASE)


def parse_duration(value: object) -> object:
    """``30 minutes``, ``2 hours``, ``1 day`` or a number of seconds, as seconds."""
    if isinstance(value, int | float):
        return value
    match = _DURATION.fullmatch(str(value))
    if not match or int(match[1]) < 1:
        raise ValueError("write a duration like 30 minutes, 2 hours, 1 day or 90 (seconds)")
    return int(match[1]) * _UNITS[(match[2] or "second").lower()]


def _parse_networks(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in value.split(",")
            if part.strip()
        )
    except ValueError as exc:
        raise ValueError(f"{exc}; list addresses or networks, e.g. 10.0.0.1,10.1.0.0/16") from exc


def _parse_names(value: object) -> object:
    if isinstance(value, str):
        names = tuple(part.strip() for part in value.split(",") if part.strip())
        unknown = [name for name in names if name not in NAMESPACES or name == "ratelimit"]
        if unknown:
            movable = ", ".join(name for name in NAMESPACES if name != "ratelimit")
            raise ValueError(f"{', '.join(unknown)}: choose from {movable}")
        return names
    return value


_LABEL = r"[a-z0-9_][a-z0-9_-]{0,62}"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?")


def _parse_host_names(value: object) -> object:
    """``book.example.com, 10.0.0.5, [2001:db8::1]``: host names as a ``Host`` header names them
    (lower case, IPv6 in brackets), without scheme or port."""
    if not isinstance(value, str):
        return value
    names = []
    for part in (part.strip().lower() for part in value.split(",")):
        if not part:
            continue
        bare = part.removeprefix("[").removesuffix("]")
        try:
            address = ipaddress.ip_address(bare)
        except ValueError:
            if not _HOST_NAME.fullmatch(part):
                raise ValueError(
                    f"{part!r} is not a host name; list names or addresses without scheme or "
                    "port, e.g. book.example.com,10.0.0.5"
                ) from None
            names.append(part.rstrip("."))
            continue
        names.append(f"[{address}]" if address.version == 6 else str(address))
    return tuple(names)


def _parse_bind(value: object) -> object:
    if not isinstance(value, str) or not value.strip():
        return None if value == "" else value
    host, _, port = value.strip().rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("write HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:9100")
    return f"{host}:{int(port)}"


RateSetting = Annotated[Rate, NoDecode, BeforeValidator(parse_rate)]
HostNames = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_parse_host_names)]
Bind = Annotated[str | None, BeforeValidator(_parse_bind)]
Names = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_parse_names)]
Seconds = Annotated[int, BeforeValidator(parse_duration)]
Outage = Literal["open", "closed"]
Networks = Annotated[
    tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    NoDecode,
    BeforeValidator(_parse_networks),
]
_TEST_ONLY_PREFIX = "PARLOUR_TEST_"


class Settings(BaseSettings):
    """The whole configuration of one Parlour process."""

    model_config = SettingsConfigDict(
        env_prefix="PARLOUR_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL", "redis_url"),
        description="Redis to share sessions, rate limits and events between instances "
        "(redis://, rediss://, unix://, redis+sentinel://h:p,h:p/master or "
        "redis+cluster://h:p,h:p); unset runs on one instance with nothing but Python",
    )
    redis_tls_enabled: bool = Field(
        False,
        validation_alias=AliasChoices("REDIS_TLS_ENABLED", "redis_tls_enabled"),
        description="Use TLS to Redis even when REDIS_URL says redis://",
    )
    redis_cluster: bool = Field(
        False,
        validation_alias=AliasChoices("REDIS_CLUSTER", "redis_cluster"),
        description="Treat the redis:// URL as a seed node of a Redis Cluster",
    )
    redis_password: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_PASSWORD", "redis_password"),
        description="Password for Redis; overrides one written in REDIS_URL",
    )
    redis_prefix: str = Field(
        "parlour",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        description="First part of every Redis key and channel, so deployments can share a Redis",
    )
    redis_timeout: float = Field(
        0.5,
        gt=0,
        le=30,
        description="Seconds to wait for Redis to connect or answer before a request gets 503",
    )
    redis_replica_ack: Literal["auto", "on", "off"] = Field(
        "auto",
        description="on: a durable write (bookings, the catalogue...) is acknowledged only once "
        "a replica has it (WAIT); auto is on with Sentinel; not offered on Cluster",
    )
    redis_pool_size: int = Field(
        50,
        ge=1,
        le=10_000,
        description="Redis connections one process uses for requests (plus one that listens for "
        "change events); a request finding them all busy waits its turn",
    )
    data_dir: Path = Field(
        Path("data"), description="Directory for parlour.db (SQLite) and the generated secret key"
    )
    secret_key: SecretStr | None = Field(
        None,
        min_length=32,
        description="Secret for signing and hashing; generated into PARLOUR_DATA_DIR when unset "
        "(set the same value on every instance)",
    )
    sessions_backend: BackendName = Field(
        "auto",
        pattern=_BACKEND_WORD,
        description="Where sessions live: memory, sqlite, redis or postgres; auto is redis when "
        "REDIS_URL is set, else postgres when the data is on PostgreSQL, else memory",
    )
    ratelimit_backend: BackendName = Field(
        "auto",
        pattern=_BACKEND_WORD,
        description="Where rate-limit windows live: memory, redis or postgres; auto as above",
    )
    data_backend: BackendName = Field(
        "sqlite",
        pattern=_BACKEND_WORD,
        description="Where bookings, treatments, reviews and the gallery live: sqlite, redis "
        "or postgres",
    )
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
        description="PostgreSQL for PARLOUR_*_BACKEND=postgres: "
        "postgresql://user:password@host:5432/dbname (?sslmode=require honoured)",
    )
    database_timeout: float = Field(
        0.5,
        gt=0,
        le=30,
        description="Seconds to wait for PostgreSQL to connect or answer; no statement runs longer "
        "than twice this before a 503, and a wait for a pooled connection lasts while the "
        "queue moves (some call answered in each such interval)",
    )
    database_pool_size: int = Field(
        10, ge=1, le=1000, description="Most PostgreSQL connections one process opens"
    )
    public_origin: str | None = Field(
        None,
        description="The address people use, e.g. https://book.example.com: every link Parlour "
        "writes starts with it, and https makes cookies Secure with the __Host- prefix and turns "
        "on HSTS (set it behind a proxy that terminates TLS); unset: http://PARLOUR_HOST:PORT",
    )
    allowed_hosts: HostNames = Field(
        (),
        description="Other host names this instance answers to (comma-separated), besides "
        "PARLOUR_PUBLIC_ORIGIN's; a request for any other Host gets 400. With neither set: "
        "localhost, 127.0.0.1, [::1] and PARLOUR_HOST, at any port",
    )
    session_idle_timeout: Seconds = Field(
        7200, ge=60, description="Seconds of inactivity (or 30 minutes, 2 hours) that end a session"
    )
    session_absolute_timeout: Seconds = Field(
        43200, ge=60, description="Longest a session lives however active (12 hours by default)"
    )
    session_cache_size: int = Field(
        10000,
        ge=0,
        description="Sessions each instance keeps in memory, each dropped by its change event "
        "from any instance (0: read every session from the store on every request)",
    )
    booking_rate_limit: RateSetting = Field(
        Rate(3, 900), description="Bookings one e-mail address, and one client IP, may attempt"
    )
    login_rate_limit: RateSetting = Field(
        Rate(10, 900),
        description="Failed logins allowed per client IP, and per account from one client IP",
    )
    login_account_rate_limit: RateSetting = Field(
        Rate(100, 86400),
        description="Failed logins allowed per account from all the addresses it has not "
        "logged in from before (a slow brake on guessing from many addresses)",
    )
    review_rate_limit: RateSetting = Field(
        Rate(5, 3600), description="Reviews one booking link, and one client IP, may submit"
    )
    password_reset_rate_limit: RateSetting = Field(
        Rate(3, 3600),
        description="Password reset links one address, and one client IP, may ask for",
    )
    booking_rate_limit_outage: Outage = Field(
        "open", description="When Redis is down: open admits bookings (logged), closed refuses"
    )
    login_rate_limit_outage: Outage = Field(
        "closed", description="When Redis is down: closed refuses logins rather than go unlimited"
    )
    review_rate_limit_outage: Outage = Field(
        "open", description="When Redis is down: open admits reviews (logged), closed refuses"
    )
    password_hash_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="Passwords hashed or checked at once, per process (each takes 64 MiB and, "
        "for about 0.15 s, up to four cores); more wait in the queue",
    )
    password_hash_queue: int = Field(
        64,
        ge=0,
        le=10000,
        description="Logins that may wait for a hashing thread; beyond that a login is "
        "answered 503 with Retry-After at once, its password unchecked and its attempt not counted",
    )
    require_2fa: bool = Field(
        False,
        description="Admins must set up two-factor (TOTP) before they can use any other admin page",
    )
    trusted_proxies: Networks = Field(
        (),
        description="Proxies whose X-Forwarded-For is believed (comma-separated addresses or "
        "networks); empty trusts none",
    )
    migration_mode: Literal["off", "dual-write"] = Field(
        "off",
        description="dual-write while moving to a new store: writes to both, reads new then old",
    )
    migration_from: str | None = Field(
        None,
        description="In dual-write, the old store: memory, sqlite, sqlite:PATH, file:PATH or a "
        "redis:// URL",
    )
    migration_namespaces: Names = Field(
        (), description="In dual-write, the namespaces that move (comma-separated); empty: all"
    )
    host: str = Field("127.0.0.1", description="Address `parlour serve` listens on")
    port: int = Field(8000, ge=1, le=65535, description="Port `parlour serve` listens on")
    request_header_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds `parlour serve` gives a request's headers to arrive, from its first "
        "byte (or from the connection); a slower client is answered 408 and cut off",
    )
    request_body_timeout: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Seconds `parlour serve` gives a request's body to arrive after its "
        "headers; a slower client is cut off",
    )
    metrics_token: SecretStr | None = Field(
        None,
        min_length=16,
        description="Bearer token that /metrics asks for (Prometheus: authorization.credentials); "
        "unset, and without PARLOUR_METRICS_BIND, /metrics answers loopback clients only",
    )
    metrics_bind: Bind = Field(
        None,
        description="HOST:PORT of a separate listener for /metrics that `parlour serve` starts "
        "(e.g. 127.0.0.1:9100); /metrics then leaves the main port",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe log level written"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text for people, json for one object per line with a request id"
    )
    smtp_url: str | None = Field(
        None,
        description="SMTP server for e-mail: smtp://user:password@host:587 (STARTTLS when "
        "offered) or smtps://user:password@host:465 (TLS from the start); unset keeps every "
        "message in the outbox, readable at /admin/outbox",
    )
    mail_from: str = Field(
        "Parlour <parlour@localhost>",
        description="The From of every message, e.g. Salon Name <bookings@example.com>",
    )
    smtp_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds to wait for the SMTP server to connect or answer each command",
    )
    reminder_before: Seconds = Field(
        86400, ge=60, description="How long before a booking its reminder goes (24 hours)"
    )
    staff_alerts_to: str = Field(
        "",
        description="The business's address for staff alerts of new, moved and cancelled "
        "bookings; empty sends none",
    )
    therapist_alerts: bool = Field(
        True,
        description="Alert the therapist of their bookings too, at the e-mail of their "
        "resource (none when it has none)",
    )
    mail_max_attempts: int = Field(
        10, ge=1, le=100, description="Tries to send a message before it is dead"
    )
    mail_retry_base: float = Field(
        30.0,
        gt=0,
        le=86400,
        description="Seconds before the first retry; each retry waits about twice as long, "
        "with jitter, up to an hour",
    )
    mail_recipient_rate_limit: RateSetting = Field(
        Rate(5, 3600),
        description="Messages a public action (booking, moving, cancelling) may send to one "
        "address; more are held in the outbox for staff to send or not",
    )
    mail_global_rate_limit: RateSetting = Field(
        Rate(500, 3600),
        description="Messages to clients all instances send together; more wait for the window",
    )

    @field_validator(
        "redis_url",
        "redis_password",
        "database_url",
        "secret_key",
        "public_origin",
        "migration_from",
        "smtp_url",
        "metrics_token",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `REDIS_PASSWORD=` in a copied .env.example means "none", not "the empty password".
        return None if value == "" else value

    @field_validator("public_origin")
    @classmethod
    def _an_origin(cls, origin: str | None) -> str | None:
        if not origin:
            return None
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError("write scheme and host only, e.g. https://book.example.com")
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def secure_cookies(self) -> bool:
        return bool(self.public_origin and self.public_origin.startswith("https://"))

    @field_validator("redis_url")
    @classmethod
    def _known_scheme(cls, url: str | None) -> str | None:
        if not url:
            return None
        scheme = urlsplit(url).scheme
        if scheme not in REDIS_SCHEMES:
            raise ValueError(
                f"the scheme {scheme or '(none)'!r} is not one Parlour speaks; "
                "use redis://host:6379/0, rediss://host:6380/0, unix:///path/to/redis.sock, "
                "redis+sentinel://host:26379,host:26380/mymaster or redis+cluster://host:7000"
            )
        return url

    @field_validator("smtp_url")
    @classmethod
    def _an_smtp_url(cls, url: str | None) -> str | None:
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                "write smtp://user:password@host:587 (STARTTLS when offered) or "
                "smtps://user:password@host:465 (TLS from the start)"
            )
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError as exc:
            raise ValueError("the port must be a number, e.g. smtp://host:587") from exc
        return url

    @field_validator("mail_from")
    @classmethod
    def _an_address(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address or any(c in value for c in "\r\n"):
            raise ValueError("write an address, e.g. Salon Name <bookings@example.com>")
        return value

    @field_validator("staff_alerts_to")
    @classmethod
    def _an_address_or_none(cls, value: str) -> str:
        value = value.strip()
        if value and ("@" not in value or any(c in value for c in "\r\n, ")):
            raise ValueError("write one address, e.g. front-desk@example.com, or leave it empty")
        return value

    @field_validator("database_url")
    @classmethod
    def _a_postgres_url(cls, url: str | None) -> str | None:
        if url and urlsplit(url).scheme not in ("postgresql", "postgres"):
            raise ValueError("write postgresql://user:password@host:5432/dbname")
        return url

    @field_validator("sessions_backend", "ratelimit_backend", "data_backend", mode="before")
    @classmethod
    def _a_backend_word(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

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

    @property
    def database_path(self) -> Path:
        return self.data_dir / "parlour.db"

    @property
    def memory_snapshot(self) -> Path:
        """Where the memory backend keeps its items across restarts."""
        return self.data_dir / "memory.jsonl"

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


def display(value: object) -> str:
    """A setting's value written the way its variable takes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(str(part) for part in value)
    return str(value)


def load_secret_key(settings: Settings) -> bytes:
    """``PARLOUR_SECRET_KEY``, else a key generated once into the data directory.

    The generated key suits one host. Instances on several hosts must share one secret, or a
    form signed by one instance is refused by another and rate limits are counted apart.
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = settings.data_dir / "secret_key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48).encode()
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
            file.write(key)
    except FileExistsError:  # another process of this host wrote it first: use theirs
        return path.read_bytes().strip()
    return key


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    info = Settings.model_fields[field]
    if isinstance(info.validation_alias, AliasChoices):
        first = info.validation_alias.choices[0]
        assert isinstance(first, str)
        return first
    return f"PARLOUR_{field.upper()}"


def mask_url_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":********@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


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
    if problems:
        raise ConfigurationError("\n".join(problems))
