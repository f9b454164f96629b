"""Where records live: Redis, the data directory and backends, PostgreSQL, a move between stores.

Each class is one section of ``.env.example`` and contributes its fields and their validators to
:class:`parlour.config.Settings`; none is read on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator

from parlour.config.values import Names, empty_is_unset
from parlour.config.vocabulary import BACKEND_WORD, REDIS_SCHEMES, BackendName


class RedisSettings(BaseModel):
    """Redis, under the names operators already use (``REDIS_URL``, ``REDIS_PASSWORD``...)."""

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

    _redis_empty_is_unset = empty_is_unset("redis_url", "redis_password")

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


class DataSettings(BaseModel):
    """The data directory, the secret generated into it when unset, and the backend of each kind."""

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
        pattern=BACKEND_WORD,
        description="Where sessions live: memory, sqlite, redis or postgres; auto is redis when "
        "REDIS_URL is set, else postgres when the data is on PostgreSQL, else memory",
    )
    ratelimit_backend: BackendName = Field(
        "auto",
        pattern=BACKEND_WORD,
        description="Where rate-limit windows live: memory, redis or postgres; auto as above",
    )
    data_backend: BackendName = Field(
        "sqlite",
        pattern=BACKEND_WORD,
        description="Where bookings, treatments, reviews and the gallery live: sqlite, redis "
        "or postgres",
    )

    _data_empty_is_unset = empty_is_unset("secret_key")

    @field_validator("sessions_backend", "ratelimit_backend", "data_backend", mode="before")
    @classmethod
    def _a_backend_word(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def database_path(self) -> Path:
        return self.data_dir / "parlour.db"

    @property
    def memory_snapshot(self) -> Path:
        """Where the memory backend keeps its items across restarts."""
        return self.data_dir / "memory.jsonl"


class PostgresSettings(BaseModel):
    """PostgreSQL, for any namespace whose backend is postgres."""

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

    _postgres_empty_is_unset = empty_is_unset("database_url")

    @field_validator("database_url")
    @classmethod
    def _a_postgres_url(cls, url: str | None) -> str | None:
        if url and urlsplit(url).scheme not in ("postgresql", "postgres"):
            raise ValueError("write postgresql://user:password@host:5432/dbname")
        return url


class MigrationSettings(BaseModel):
    """A move between stores (docs/migration.md)."""

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

    _migration_empty_is_unset = empty_is_unset("migration_from")
