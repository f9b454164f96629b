"""One salon's services, and the bounded set of them a multi-tenant process keeps built.

:class:`SalonServices` is everything a request of one salon needs beyond the shared
infrastructure: its use cases (:class:`~parlour.services.core.Core`, over its own stores), its
sessions and their cache, its limiter (its keys carry the salon) and its links (its host). The
composition root (``runtime.py``) builds them; nothing else does.

:class:`Salons` keeps the most recently served ``PARLOUR_SALONS_KEPT`` of them per process: a
salon's per-process copies (catalogue, sessions, day lists) live as long as its services, so the
memory of 10,000 salons is bounded by the number kept, not by the number signed up
(``bench/tenancy.py`` measures what one costs).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher

from parlour.config import Settings
from parlour.links import Links
from parlour.services.cache import ItemCache
from parlour.services.core import Core
from parlour.services.hashing import HashingPool
from parlour.services.notices.notifier import MailSetup
from parlour.services.outbox.outboxes import OUTBOX_NAMESPACES
from parlour.services.outbox.store import Outbox
from parlour.services.ratelimit import Limiter
from parlour.services.sessions import SessionRecord, SessionService
from parlour.services.tenants import Salon
from parlour.storage import SalonStores

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SalonServices:
    salon: Salon | None
    """``None``: the one salon of a single-salon deployment."""
    stores: SalonStores
    core: Core
    sessions: SessionService
    session_cache: ItemCache[SessionRecord]
    limiter: Limiter
    links: Links
    running: bool = False
    web: Any = None
    """What the web layer keeps with the salon (its ``Parts``), dropped with it."""

    @classmethod
    def build(
        cls,
        salon: Salon | None,
        stores: SalonStores,
        *,
        links: Links,
        mail: MailSetup,
        hashing: HashingPool,
        password_hasher: PasswordHasher | None,
        limiter: Limiter,
        settings: Settings,
    ) -> SalonServices:
        core = Core.assemble(stores.kv, mail=mail, hashing=hashing, password_hasher=password_hasher)
        accounts = core.accounts

        async def credentials(email: str, fresh: bool) -> int | None:
            return await accounts.credentials_version(email, fresh=fresh)

        session_cache: ItemCache[SessionRecord] = ItemCache(
            stores.kv("sessions"), settings.session_cache_size
        )
        sessions = SessionService(
            stores.kv("sessions"),
            idle_timeout=settings.session_idle_timeout,
            absolute_timeout=settings.session_absolute_timeout,
            credentials=credentials,
            cache=session_cache,
        )
        return cls(salon, stores, core, sessions, session_cache, limiter, links)

    def start(self) -> None:
        """Keep per-process copies (each follows its namespace's change feed)."""
        self.core.cache.start()
        self.session_cache.start()
        self.core.day_cache.start()
        self.running = True

    async def stop(self) -> None:
        self.running = False
        await self.core.day_cache.stop()
        await self.session_cache.stop()
        await self.core.cache.stop()

    def forget_copies(self) -> None:
        self.core.cache.clear()
        self.session_cache.clear()
        self.core.day_cache.clear()


class Salons:
    """Each salon's :class:`SalonServices`, built when first served, the least recently served
    dropped beyond ``kept`` (and built again when next asked for)."""

    def __init__(
        self,
        build: Callable[[Salon], SalonServices],
        stores: Callable[[Salon], SalonStores],
        kept: int,
    ) -> None:
        self._build = build
        self._stores = stores
        self.kept = kept
        self._built: OrderedDict[str, SalonServices] = OrderedDict()
        self._outboxes: dict[tuple[str, str | None], list[Outbox]] = {}
        self._running = False
        self._stopping: set[asyncio.Task[None]] = set()
        self.observe_sessions: Callable[[str, float], None] | None = None
        self.built = 0
        """Salons built since start, rebuilt ones included (a test of the bound reads it)."""

    def __len__(self) -> int:
        return len(self._built)

    def services(self, salon: Salon) -> SalonServices:
        """The salon's services, as its record now says (a new host gives new links)."""
        found = self._built.get(salon.slug)
        if found is not None and found.salon is not None and _same_place(found.salon, salon):
            found.salon = salon  # its status may have changed; nothing built depends on it
            self._built.move_to_end(salon.slug)
            return found
        if found is not None:
            self._drop(salon.slug)
        made = self._build(salon)
        if self.observe_sessions is not None:
            made.sessions.observe = self.observe_sessions
        if self._running:
            made.start()
        self._built[salon.slug] = made
        self.built += 1
        while len(self._built) > self.kept:
            self._drop(next(iter(self._built)))
        return made

    def outboxes(self, salon: Salon) -> list[Outbox]:
        """The salon's outboxes, for the delivery worker: light (no services are built)."""
        key = (salon.slug, salon.space)
        found = self._outboxes.get(key)
        if found is None:
            stores = self._stores(salon)
            found = self._outboxes[key] = [Outbox(stores.kv(ns)) for ns in OUTBOX_NAMESPACES]
        return found

    def _drop(self, slug: str) -> None:
        dropped = self._built.pop(slug)
        if dropped.running:
            task = asyncio.get_running_loop().create_task(dropped.stop())
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    def start(self) -> None:
        self._running = True
        for services in self._built.values():
            services.start()

    async def stop(self) -> None:
        self._running = False
        for services in self._built.values():
            if services.running:
                await services.stop()
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)

    def forget_copies(self) -> None:
        for services in self._built.values():
            services.forget_copies()


def _same_place(old: Salon, new: Salon) -> bool:
    return old.hosts == new.hosts and old.adopted == new.adopted
