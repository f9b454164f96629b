"""The salons of a multi-tenant deployment: who they are, where they are served, and whether they
take bookings. Kept in the platform's ``tenants`` namespace:

    s:<slug>      the salon (:class:`Salon`)
    h:<host>      a custom domain -> the slug it serves (one salon per host, claimed atomically)

A salon is served at ``<slug>.<platform domain>`` and at each of its custom domains; the bare
platform domain serves the platform's own pages (:data:`PLATFORM`). A host that is neither is no
salon's: :meth:`Tenants.resolve` answers ``None`` and the web answers 404, never another salon.

Each salon's keys live under its own space (``bookings@<slug>``, ``storage.base``); the one salon
that adopted a single-salon deployment keeps that deployment's keys (space ``None``), so its
staff stay logged in and its manage links keep working (docs/tenancy.md).
"""

from __future__ import annotations

import asyncio
import enum
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from parlour.errors import Conflict, InvalidInput, NotFound
from parlour.services.cache import ItemCache
from parlour.storage.base import KVStore

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
RESERVED = frozenset(
    (
        "www",
        "admin",
        "api",
        "app",
        "apps",
        "platform",
        "operator",
        "operators",
        "console",
        "dashboard",
        "signup",
        "sign-up",
        "login",
        "logout",
        "register",
        "account",
        "accounts",
        "billing",
        "help",
        "support",
        "docs",
        "status",
        "static",
        "assets",
        "cdn",
        "media",
        "mail",
        "email",
        "smtp",
        "imap",
        "pop",
        "ftp",
        "ns",
        "ns1",
        "ns2",
        "dns",
        "root",
        "test",
        "demo",
        "staging",
        "dev",
        "prod",
        "metrics",
        "health",
        "healthz",
        "readyz",
        "parlour",
        "about",
        "blog",
        "security",
        "abuse",
        "postmaster",
        "hostmaster",
        "webmaster",
    )
)
"""Slugs no salon may take: names of the platform's own, of mail and DNS, and of trust."""

PLATFORM = "platform"
"""The platform's own space: its operators' accounts, sessions and audit, its outbox (sign-up
mail). ``platform`` is reserved, so no salon can be it."""

_SALON = "s:"
_HOST = "h:"


class Status(enum.StrEnum):
    PENDING = "pending"
    """Signed up, its owner's address not yet confirmed: not served."""
    ACTIVE = "active"
    SUSPENDED = "suspended"
    """Kept whole, but not taking bookings and no staff login (an operator's decision)."""


@dataclass(frozen=True, slots=True)
class Salon:
    slug: str
    name: str
    owner_email: str
    status: Status
    created: float
    hosts: tuple[str, ...] = ()
    """Custom domains, besides ``<slug>.<platform domain>``."""
    adopted: bool = False
    """Keeps a single-salon deployment's keys (no salon in them): the first salon of many."""

    @property
    def space(self) -> str | None:
        """Where its keys live (``storage.Storage.salon``)."""
        return None if self.adopted else self.slug

    @property
    def serving(self) -> bool:
        return self.status is not Status.PENDING

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["status"] = self.status.value
        document["hosts"] = list(self.hosts)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Salon:
        return cls(
            slug=document["slug"],
            name=document["name"],
            owner_email=document["owner_email"],
            status=Status(document["status"]),
            created=float(document["created"]),
            hosts=tuple(document.get("hosts", ())),
            adopted=bool(document.get("adopted", False)),
        )


def check_slug(slug: str) -> str:
    """``slug`` if a new salon may take it; :class:`InvalidInput` saying why not."""
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        raise InvalidInput(
            {
                "slug": "Use 1 to 32 lower-case letters, digits and hyphens, starting and "
                "ending with a letter or digit (it becomes your address: slug.example.net)."
            }
        )
    if slug in RESERVED:
        raise InvalidInput({"slug": f"{slug!r} is kept for the platform. Please choose another."})
    return slug


def check_host(host: str, platform_domain: str) -> str:
    """A custom domain an operator may add: a DNS name, not the platform's own names."""
    name = host.strip().lower().rstrip(".")
    labels = name.split(".")
    if (
        len(labels) < 2
        or len(name) > 253
        or not all(re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", label) for label in labels)
    ):
        raise InvalidInput({"host": f"{host!r} is not a domain name such as book.example.com."})
    if name == platform_domain or name.endswith("." + platform_domain):
        raise InvalidInput(
            {"host": f"Names under {platform_domain} are the platform's; add your own domain."}
        )
    return name


class Tenants:
    """The directory of salons, over the platform's ``tenants`` store."""

    def __init__(
        self,
        store: KVStore,
        platform_domain: str,
        *,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.domain = platform_domain
        self.cache: ItemCache[dict[str, Any]] = ItemCache(store, cache_size)
        """Salons and hosts as this process last read them, each dropped by its change event."""
        self._flights: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self.clock = clock

    # -- reading ----------------------------------------------------------------------------

    async def get(self, slug: str) -> Salon | None:
        if not SLUG.fullmatch(slug):
            return None
        document = await self._lookup(_SALON + slug)
        return None if document is None else Salon.from_json(document)

    async def require(self, slug: str) -> Salon:
        salon = await self.get(slug)
        if salon is None:
            raise NotFound(f"There is no salon {slug!r}.")
        return salon

    async def resolve(self, host: str) -> Salon | str | None:
        """What ``host`` (a ``Host`` header's name, lower case, no port) serves: a salon,
        :data:`PLATFORM` for the bare platform domain, or ``None``: no salon of ours."""
        if host == self.domain:
            return PLATFORM
        if len(host) > 253:  # no domain name is longer (nor would fit a directory key)
            return None
        label, dot, rest = host.partition(".")
        if dot and rest == self.domain:
            salon = await self.get(label)
        else:
            found = await self._lookup(_HOST + host)
            salon = None if found is None else await self.get(str(found["slug"]))
            if salon is not None and host not in salon.hosts:
                salon = None  # a host record left by an interrupted removal
        return salon if salon is not None and salon.serving else None

    async def _lookup(self, key: str) -> dict[str, Any] | None:
        """``key`` through the cache, one store read for every lookup of it at that moment: a
        process that has just started, met by a hundred requests for one salon, asked the
        store a hundred times at once, and some outlasted the store's deadline (503s)."""
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self.cache.get(key, lambda: self._read(key)))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(flight)

    def _landed(self, key: str, flight: asyncio.Future[dict[str, Any] | None]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]

    def forget_key(self, key: str) -> None:
        """This process just wrote ``key``: neither the cache nor a read in flight answers."""
        self.cache.forget(key)
        self._flights.pop(key, None)

    async def _read(self, key: str) -> dict[str, Any] | None:
        found = await self.store.get_item(key)
        return found if isinstance(found, dict) else None

    async def all(self) -> list[Salon]:
        """Every salon, by slug (read from the store, not the cache)."""
        salons = [
            Salon.from_json(value)
            async for key, value in self.store.items()
            if key.startswith(_SALON) and isinstance(value, dict)
        ]
        return sorted(salons, key=lambda salon: salon.slug)

    def origin_of(self, salon: Salon, scheme: str, port: int | None) -> str:
        """Where the salon's links point: its first custom domain, else its platform name."""
        host = salon.hosts[0] if salon.hosts else f"{salon.slug}.{self.domain}"
        return f"{scheme}://{host}" + (f":{port}" if port else "")

    # -- changing ---------------------------------------------------------------------------

    async def create(
        self,
        slug: str,
        name: str,
        owner_email: str,
        *,
        status: Status = Status.ACTIVE,
        adopt: bool = False,
    ) -> Salon:
        """A new salon; :class:`Conflict` if the slug is taken. ``adopt``: it keeps the
        single-salon deployment's keys (only one salon may)."""
        check_slug(slug)
        name = " ".join(name.split())
        if not 1 <= len(name) <= 100:
            raise InvalidInput({"name": "Give the salon's name (up to 100 characters)."})
        if adopt and any(salon.adopted for salon in await self.all()):
            raise Conflict("Another salon already holds this deployment's first salon's data.")
        salon = Salon(slug, name, owner_email, status, self.clock(), adopted=adopt)
        if not await self.store.set_if_absent(_SALON + slug, salon.to_json()):
            raise Conflict(f"The address {slug!r} is taken. Please choose another.")
        self.forget_key(_SALON + slug)  # a lookup may have cached its absence
        return salon

    async def set_status(self, slug: str, status: Status) -> Salon:
        return await self._change(slug, lambda salon: replace(salon, status=status))

    async def add_host(self, slug: str, host: str) -> Salon:
        """Serve the salon at ``host`` too; :class:`Conflict` if another salon has it."""
        host = check_host(host, self.domain)
        await self.require(slug)
        claimed = await self.store.set_if_absent(_HOST + host, {"slug": slug})
        if not claimed:
            owner = await self.store.get_item(_HOST + host)
            if not isinstance(owner, dict) or owner.get("slug") != slug:
                raise Conflict(f"{host} already serves another salon.")
        self.forget_key(_HOST + host)
        return await self._change(
            slug,
            lambda salon: (
                salon if host in salon.hosts else replace(salon, hosts=(*salon.hosts, host))
            ),
        )

    async def remove_host(self, slug: str, host: str) -> Salon:
        host = host.strip().lower().rstrip(".")  # as add_host kept it
        salon = await self._change(
            slug, lambda salon: replace(salon, hosts=tuple(h for h in salon.hosts if h != host))
        )
        owner = await self.store.get_item(_HOST + host)
        if isinstance(owner, dict) and owner.get("slug") == slug:
            await self.store.remove_item(_HOST + host)
        self.forget_key(_HOST + host)
        return salon

    async def forget(self, slug: str) -> None:
        """Remove the salon's record and hosts (its data is erased first: services.erasure)."""
        salon = await self.require(slug)
        for host in salon.hosts:
            await self.store.remove_item(_HOST + host)
            self.forget_key(_HOST + host)
        await self.store.remove_item(_SALON + slug)
        self.forget_key(_SALON + slug)

    async def _change(self, slug: str, change: Callable[[Salon], Salon]) -> Salon:
        changed: Salon | None = None

        def apply(current: Any) -> Any:
            nonlocal changed
            if not isinstance(current, dict):
                raise NotFound(f"There is no salon {slug!r}.")
            changed = change(Salon.from_json(current))
            return changed.to_json()

        await self.store.update(_SALON + slug, apply)
        self.forget_key(_SALON + slug)  # other processes hear it from the change feed
        assert changed is not None
        return changed
