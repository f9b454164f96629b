"""The storage layer: namespaced JSON stores on memory, SQLite, Redis or PostgreSQL.

``Storage`` builds the backends that the settings call for, owns their connections, and routes each
namespace to its backend::

    async with Storage.from_settings(settings) as storage:
        bookings = storage.kv("bookings")
        await bookings.set_item("b1", {"start": "2026-11-26T10:00:00Z"})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from parlour.config import NAMESPACES, PLATFORM_NAMESPACES, Settings, mask_url_password
from parlour.errors import ConfigurationError, NoSalonInScope, StorageError
from parlour.storage.base import (
    JSON,
    Backend,
    KVStore,
    check_namespace,
    salon_namespace,
    split_namespace,
)
from parlour.storage.dual import DualBackend
from parlour.storage.events import ChangeEvent, ChangeKind, Subscription
from parlour.storage.memory import MemoryBackend
from parlour.storage.ratelimit import RateLimitStore
from parlour.storage.registry import BACKENDS, check_settings, entry_for_url
from parlour.storage.sqlite import SQLiteBackend

__all__ = [
    "JSON",
    "Backend",
    "BackendStatus",
    "ChangeEvent",
    "ChangeKind",
    "KVStore",
    "Storage",
    "Subscription",
]


@dataclass(frozen=True, slots=True)
class BackendStatus:
    backend: str
    description: str
    error: str | None


class Storage:
    """Every backend of one process, and which backend serves each namespace."""

    def __init__(
        self,
        backends: Mapping[str, Backend],
        routes: Mapping[str, Backend],
        ratelimits: RateLimitStore,
        *,
        scoped: bool = False,
    ) -> None:
        self._backends = dict(backends)
        self._routes = dict(routes)
        self._stores: dict[str, KVStore] = {}
        self._open = False
        self.ratelimits = ratelimits
        """Sliding windows, on the backend of the ``ratelimit`` namespace."""
        self.scoped = scoped
        """Many salons (``PARLOUR_TENANCY=multi``): a salon's namespaces only through
        :meth:`salon`, never :meth:`kv`."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        """Plan the backends; nothing connects until ``async with``.

        Raises ``ConfigurationError`` naming the variable when a namespace is routed to a backend
        Parlour does not know, or to one that cannot serve it.
        """
        entries = check_settings(settings)
        backends: dict[str, Backend] = {}
        for entry in sorted(set(entries.values()), key=lambda entry: entry.name):
            backends[entry.name] = entry.build(settings)
        routes = {ns: backends[entry.name] for ns, entry in entries.items()}
        if settings.migration_mode == "dual-write" and settings.migration_from:
            old = backends["old"] = backend_for_spec(settings.migration_from, settings)
            moving = settings.migration_namespaces or [n for n in NAMESPACES if n != "ratelimit"]
            for namespace in moving:
                routes[namespace] = DualBackend(routes[namespace], old)
        limits = backends[entries["ratelimit"].name]
        return cls(
            backends,
            routes,
            entries["ratelimit"].rate_limits(limits),
            scoped=settings.tenancy == "multi",
        )

    async def __aenter__(self) -> Storage:
        if self._open:
            raise RuntimeError("this Storage is open already; open it once, in one lifespan")
        opened: list[Backend] = []
        try:
            for backend in self._backends.values():
                await backend.open()
                opened.append(backend)
        except BaseException:
            for backend in reversed(opened):
                await backend.close()
            raise
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for backend in reversed(self._backends.values()):
            await backend.close()
        self._open = False

    @property
    def backends(self) -> Mapping[str, Backend]:
        """The backends this process opens, by name (memory, sqlite, redis, old)."""
        return self._backends

    def backend_for(self, namespace: str) -> Backend:
        return self._routes[split_namespace(check_namespace(namespace))[0]]

    def kv(self, namespace: str) -> KVStore:
        """The store for ``namespace`` (a word of a-z, 0-9 and _). With many salons, only the
        deployment's own namespaces (``tenants``, ``ratelimit``): a salon's raise
        :class:`NoSalonInScope`, since reading "the" bookings of a platform is a mistake."""
        store = self._stores.get(namespace)
        if store is None:
            if self.scoped and split_namespace(namespace)[0] not in PLATFORM_NAMESPACES:
                raise NoSalonInScope(
                    f"{namespace!r} belongs to a salon: name one (Storage.salon), there is no "
                    "default salon when PARLOUR_TENANCY=multi"
                )
            store = self._stores[namespace] = KVStore(self.backend_for(namespace), namespace)
        return store

    def salon(self, space: str | None) -> SalonStores:
        """The stores of the salon whose keys live under ``space`` (its slug; ``None`` for a
        single salon, and for the first salon of many, which keeps the keys it had)."""
        return SalonStores(self, space)

    def _salon_kv(self, namespace: str) -> KVStore:
        return KVStore(self.backend_for(namespace), namespace)  # kept by the SalonStores

    async def check(self) -> list[BackendStatus]:
        """Ask every backend to answer: one status each, never raising for one that is down."""
        statuses = []
        for name, backend in self._backends.items():
            try:
                await backend.ping()
            except StorageError as exc:
                statuses.append(BackendStatus(name, backend.describe(), str(exc)))
            else:
                statuses.append(BackendStatus(name, backend.describe(), None))
        return statuses


class SalonStores:
    """One salon's namespaces: ``stores.kv("bookings")`` is ``bookings@<slug>`` (or ``bookings``
    for the salon that keeps a single-salon deployment's keys). Everything of a salon is reached
    through one of these, so no service can name another salon's keys."""

    __slots__ = ("_storage", "_stores", "space")

    def __init__(self, storage: Storage, space: str | None) -> None:
        self._storage = storage
        self.space = space
        self._stores: dict[str, KVStore] = {}

    def kv(self, namespace: str) -> KVStore:
        store = self._stores.get(namespace)
        if store is None:
            if namespace in PLATFORM_NAMESPACES:
                raise NoSalonInScope(f"{namespace!r} is the platform's, not a salon's")
            qualified = salon_namespace(check_namespace(namespace), self.space)
            store = self._stores[namespace] = self._storage._salon_kv(qualified)
        return store

    def namespaces(self) -> list[str]:
        """Every namespace this salon may hold keys in, as the backends name them."""
        return [
            salon_namespace(namespace, self.space)
            for namespace in NAMESPACES
            if namespace not in PLATFORM_NAMESPACES
        ]


def backend_for_spec(spec: str, settings: Settings) -> Backend:
    """A store named on the command line or in PARLOUR_MIGRATION_FROM.

    ``memory`` (the memory backend's snapshot in the data directory), ``sqlite`` (the configured
    file), ``sqlite:PATH``, ``file:PATH`` (JSON lines, as ``parlour export`` writes), a backend's
    name (``redis``, ``postgres``: its configured URL), or a URL whose scheme names a backend
    (``redis://...`` of any topology, ``postgresql://...``), with that backend's other settings.
    """
    if spec == "memory":
        return MemoryBackend(snapshot=settings.memory_snapshot)
    if spec == "sqlite":
        return SQLiteBackend(settings.database_path)
    if spec.startswith("sqlite:"):
        return SQLiteBackend(Path(spec.removeprefix("sqlite:")))
    if spec.startswith("file:"):
        return MemoryBackend(snapshot=Path(spec.removeprefix("file:")))
    named = BACKENDS.get(spec)
    if named is not None and named.url_setting is not None:
        url = getattr(settings, named.url_setting)
        if not url:
            raise ConfigurationError(f"{spec!r} names the configured {spec}, but it has no URL")
        return named.backend_class().from_url(url, settings)
    by_scheme = entry_for_url(spec)
    if by_scheme is not None:
        return by_scheme.backend_class().from_url(spec, settings)
    schemes = ", ".join(sorted(s for entry in BACKENDS.values() for s in entry.schemes))
    raise ConfigurationError(
        f"{mask_url_password(spec)!r} is not a store Parlour knows: write memory, sqlite, "
        f"sqlite:PATH, file:PATH, redis, postgres, or a URL whose scheme is one of {schemes}"
    )
