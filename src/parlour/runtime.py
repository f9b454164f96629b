"""The composition root: everything one Parlour process runs on, assembled once from Settings.

The web app (``create_app``), ``parlour worker`` and every other command build one
:class:`Runtime` and take what they need from it; none of them builds storage, a limiter or a
service of its own. ``async with runtime:`` runs what a serving process runs (the storage open,
the per-process copies, the durability watch, the delivery worker) and stops it in reverse;
``async with runtime.opened():`` only opens the storage, for a command that starts nothing.

Metrics are the web's (Prometheus stays there): the web tells the runtime where session
timings go with :meth:`Runtime.observe_sessions`.

Shared infrastructure (storage and its pools, the change feed, the hashing pool, the limiter's
store, the delivery worker) is built once; a salon's services (:class:`SalonServices`: its
use cases, sessions, caches, limits and links) per salon. A single-salon deployment has one,
:attr:`Runtime.home`; with ``PARLOUR_TENANCY=multi`` the home is the platform's own (its
operators, their sessions, the sign-up mail) and :attr:`Runtime.salons` builds each salon's on
demand, keeping the most recently served (``PARLOUR_SALONS_KEPT``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from types import TracebackType
from urllib.parse import urlsplit

from argon2 import PasswordHasher

from parlour.config import Settings, load_secret_key
from parlour.links import Links
from parlour.mail.delivery import DeliveryWorker
from parlour.mail.setup import delivery_from_settings, mail_setup
from parlour.salons import Salons, SalonServices, session_share
from parlour.services.cache import ItemCache
from parlour.services.catalogue import business_in
from parlour.services.core import Core
from parlour.services.hashing import HashingPool
from parlour.services.notices.notifier import MailSetup
from parlour.services.operations import Operations
from parlour.services.outbox.store import Outbox
from parlour.services.ratelimit import Limiter, policies_from
from parlour.services.sessions import SessionRecord, SessionService
from parlour.services.tenants import PLATFORM, Salon, Status, Tenants
from parlour.storage import SalonStores, Storage
from parlour.storage.base import split_namespace
from parlour.storage.durability import Durability

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    settings: Settings
    storage: Storage
    secret_key: bytes
    limiter: Limiter
    """The deployment's limiter; each salon's counts under its own keys (``SalonServices``)."""
    hashing: HashingPool
    """The bounded pool every password hash runs in (services/hashing.py)."""
    mail: MailSetup
    home: SalonServices
    """The one salon of a single-salon deployment; with many, the platform's own services."""
    durability: Durability
    """Whether Redis may be served from: not emptied, not evicting (storage/durability.py)."""
    delivery: DeliveryWorker
    """This process's mail worker: started by ``async with`` (serve) or by ``parlour worker``."""
    tenants: Tenants | None = None
    """The salons (``PARLOUR_TENANCY=multi``), else ``None``."""
    salons: Salons | None = None
    """Each salon's services, built on demand (``PARLOUR_TENANCY=multi``), else ``None``."""
    operations: Operations | None = None
    """The operator's work on salons, audited in the platform's log (``parlour tenant``, the
    console), with many salons; else ``None``."""
    _running: AsyncExitStack | None = field(default=None, init=False, repr=False)

    @property
    def core(self) -> Core:
        return self.home.core

    @property
    def sessions(self) -> SessionService:
        return self.home.sessions

    @property
    def session_cache(self) -> ItemCache[SessionRecord]:
        return self.home.session_cache

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        storage: Storage | None = None,
        password_hasher: PasswordHasher | None = None,
    ) -> Runtime:
        """A runtime for ``settings``. Nothing connects or starts here. Pass ``storage`` to
        share one already planned :class:`Storage` (this runtime still opens and closes it),
        ``password_hasher`` for accounts hashed at another cost than argon2's default."""
        planned = storage if storage is not None else Storage.from_settings(settings)
        secret = load_secret_key(settings)
        limiter = Limiter(planned.ratelimits, policies_from(settings), secret)
        hashing = HashingPool(settings.password_hash_threads, settings.password_hash_queue)
        mail = mail_setup(settings, secret)
        site = Links.from_settings(settings)

        def build(salon: Salon | None, stores: SalonStores, links: Links) -> SalonServices:
            return SalonServices.build(
                salon,
                stores,
                links=links,
                mail=replace(mail, links=links),
                hashing=hashing,
                password_hasher=password_hasher,
                limiter=limiter if salon is None else limiter.scoped(salon.slug),
                settings=settings,
                session_cache_size=None if salon is None else session_share(settings),
            )

        tenants: Tenants | None = None
        salons: Salons | None = None
        if settings.tenancy == "multi":
            assert settings.platform_domain is not None  # load_settings checks it
            tenants = Tenants(planned.kv("tenants"), settings.platform_domain)
            scheme, port = urlsplit(site.origin).scheme, urlsplit(site.origin).port
            directory = tenants

            def build_salon(salon: Salon) -> SalonServices:
                origin = directory.origin_of(salon, scheme, port)
                return build(salon, planned.salon(salon.space), Links(origin))

            salons = Salons(
                build_salon, lambda salon: planned.salon(salon.space), settings.salons_kept
            )
            platform = Salon(PLATFORM, "Parlour", "", Status.ACTIVE, 0.0)
            home = build(platform, planned.salon(PLATFORM), site)
        else:
            home = build(None, planned.salon(None), site)

        def forget_copies() -> None:  # the store was emptied or replaced under us
            home.forget_copies()
            if salons is not None:
                salons.forget_copies()
            if tenants is not None:
                tenants.cache.clear()

        async def outboxes() -> list[Outbox]:
            found = list(home.core.outboxes.all)
            if tenants is not None and salons is not None:
                for salon in await tenants.all():
                    found += salons.outboxes(salon)
            return found

        return cls(
            settings=settings,
            storage=planned,
            secret_key=secret,
            limiter=limiter,
            hashing=hashing,
            mail=mail,
            home=home,
            durability=Durability(planned, settings.data_dir, on_change=forget_copies),
            delivery=delivery_from_settings(
                settings,
                home.core.outboxes.all if tenants is None else outboxes,
                limiter,
                secret,
                relay=mail.relay,
                business_of=lambda outbox: business_in(
                    planned.salon(split_namespace(outbox.store.namespace)[1]).kv("business")
                ),
            ),
            tenants=tenants,
            salons=salons,
            operations=None
            if tenants is None or salons is None
            else Operations(
                tenants,
                planned.salon,
                home.core.audit,  # the platform's own log
                lambda salon: salons.services(salon).core.accounts,
            ),
        )

    def observe_sessions(self, observe: Callable[[str, float], None]) -> None:
        """Tell ``observe(operation, seconds)`` how long each session store operation took."""
        self.home.sessions.observe = observe
        if self.salons is not None:
            self.salons.observe_sessions = observe

    async def __aenter__(self) -> Runtime:
        """Open the storage and start what a serving process runs."""
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.storage)
            for status in await self.storage.check():
                if status.error:
                    log.warning("%s is not answering yet: %s", status.description, status.error)
            self.home.start()
            if self.tenants is not None:
                self.tenants.cache.start()
            if self.salons is not None:
                self.salons.start()
            await self.durability.start()
            self.delivery.start()
            self._running = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        running, self._running = self._running, None
        try:
            await self.delivery.stop()
            await self.durability.stop()
            if self.salons is not None:
                await self.salons.stop()
            if self.tenants is not None:
                await self.tenants.cache.stop()
            await self.home.stop()
            self.hashing.close()
        finally:
            if running is not None:
                await running.__aexit__(exc_type, exc, tb)

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[Core]:
        """The storage open and :attr:`core` ready, nothing started: what a command needs (the
        per-process copies stay unstarted, so every read goes to the store)."""
        try:
            async with self.storage:
                yield self.core
        finally:
            self.hashing.close()
