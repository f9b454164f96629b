"""The one list of storage backends: names, URL schemes, what each can serve, how to build it.

Adding a backend is one module (a :class:`~parlour.storage.base.Backend` subclass with
``from_settings`` and ``from_url``) plus one :class:`BackendEntry` in :data:`BACKENDS`. Modules
are imported only when their backend is chosen, so a deployment without Redis never imports
redis-py and one without PostgreSQL never imports its driver.

Settings name backends as plain words (``parlour.config`` does not import the storage layer); this
module is where an unknown word, or a backend asked to serve what it cannot, becomes a
:class:`~parlour.errors.ConfigurationError` that names the variable and the choices.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast
from urllib.parse import urlsplit

from parlour.config import NAMESPACES, REDIS_SCHEMES, Settings, env_name
from parlour.errors import ConfigurationError

if TYPE_CHECKING:
    from parlour.storage.base import Backend
    from parlour.storage.ratelimit import RateLimitStore


class Reach(enum.IntEnum):
    """Who sees the same data."""

    PROCESS = 1
    """One process: each worker or instance has its own."""
    HOST = 2
    """Every process on one host (a file)."""
    NETWORK = 3
    """Every instance on every host (a server)."""


class _BackendClass(Protocol):
    @classmethod
    def from_settings(cls, settings: Settings) -> Backend: ...

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> Backend: ...


class _RateLimitClass(Protocol):
    def __call__(self, backend: Backend) -> RateLimitStore: ...


@dataclass(frozen=True, slots=True)
class BackendEntry:
    name: str
    module: str
    """Where the backend class lives, as ``package.module:Class``."""
    reach: Reach
    events: bool
    """Change events from every process that shares the data (not only this one)."""
    ratelimits: str | None = None
    """``package.module:callable`` building its rate-limit store from the backend, or None."""
    schemes: tuple[str, ...] = ()
    """URL schemes that name a store of this backend (``parlour migrate --from URL``)."""
    url_setting: str | None = None
    """The setting that must hold its URL when a namespace is routed to it."""
    url_example: str = ""

    def backend_class(self) -> _BackendClass:
        return cast(_BackendClass, _load(self.module))

    def build(self, settings: Settings) -> Backend:
        return self.backend_class().from_settings(settings)

    def rate_limits(self, backend: Backend) -> RateLimitStore:
        assert self.ratelimits is not None
        return cast(_RateLimitClass, _load(self.ratelimits))(backend)


BACKENDS: Mapping[str, BackendEntry] = {
    entry.name: entry
    for entry in (
        BackendEntry(
            "memory",
            "parlour.storage.memory:MemoryBackend",
            Reach.PROCESS,
            events=False,
            ratelimits="parlour.storage.ratelimit:MemoryRateLimits.for_backend",
        ),
        BackendEntry("sqlite", "parlour.storage.sqlite:SQLiteBackend", Reach.HOST, events=True),
        BackendEntry(
            "redis",
            "parlour.storage.redis:RedisBackend",
            Reach.NETWORK,
            events=True,
            ratelimits="parlour.storage.redis:RedisRateLimits",
            schemes=REDIS_SCHEMES,
            url_setting="redis_url",
            url_example="redis://host:6379/0",
        ),
        BackendEntry(
            "postgres",
            "parlour.storage.postgres:PostgresBackend",
            Reach.NETWORK,
            events=True,
            ratelimits="parlour.storage.postgres_ratelimit:PostgresRateLimits",
            schemes=("postgresql", "postgres"),
            url_setting="database_url",
            url_example="postgresql://user:password@host:5432/parlour",
        ),
    )
}
"""Every backend Parlour has, by the name settings use."""


def _load(path: str) -> object:
    module, _, name = path.partition(":")
    found: object = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


def _setting_of(namespace: str) -> str:
    if namespace == "sessions":
        return "sessions_backend"
    if namespace == "ratelimit":
        return "ratelimit_backend"
    return "data_backend"


def entry_for(namespace: str, settings: Settings) -> BackendEntry:
    """The backend ``namespace`` is routed to, checked: a clear error if it cannot serve it."""
    name = settings.backend_for(namespace)
    variable = env_name(_setting_of(namespace))
    entry = BACKENDS.get(name)
    if entry is None:
        raise ConfigurationError(
            f"{variable}={name!r} is not a backend Parlour knows; choose from "
            f"{', '.join(choices_for(namespace))}"
        )
    if namespace == "ratelimit" and entry.ratelimits is None:
        raise ConfigurationError(
            f"{variable}={name} cannot hold rate-limit windows; choose from "
            f"{', '.join(choices_for(namespace))}"
        )
    if entry.url_setting is not None and not getattr(settings, entry.url_setting):
        url = env_name(entry.url_setting)
        raise ConfigurationError(
            f"{variable}={name} needs {url}; set {url}={entry.url_example} "
            "or choose another backend"
        )
    return entry


def choices_for(namespace: str) -> list[str]:
    names = [e.name for e in BACKENDS.values() if namespace != "ratelimit" or e.ratelimits]
    return ["auto", *names] if namespace in ("sessions", "ratelimit") else names


def check_settings(settings: Settings) -> dict[str, BackendEntry]:
    """The entry of every namespace; raises one ConfigurationError listing every problem."""
    entries: dict[str, BackendEntry] = {}
    problems: list[str] = []
    for namespace in NAMESPACES:
        try:
            entries[namespace] = entry_for(namespace, settings)
        except ConfigurationError as exc:
            if str(exc) not in problems:
                problems.append(str(exc))
    if problems:
        raise ConfigurationError("\n".join(problems))
    return entries


def entry_for_url(url: str) -> BackendEntry | None:
    scheme = urlsplit(url).scheme
    return next((e for e in BACKENDS.values() if scheme and scheme in e.schemes), None)
