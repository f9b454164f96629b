"""The composition root: everything one Parlour process runs on, assembled once from Settings.

The web app (``create_app``), ``parlour worker`` and every other command build one
:class:`Runtime` and take what they need from it; none of them builds storage, a limiter or a
service of its own. ``async with runtime:`` runs what a serving process runs (the storage open,
the per-process copies, the durability watch, the delivery worker) and stops it in reverse;
``async with runtime.opened():`` only opens the storage, for a command that starts nothing.

Metrics are the web's (Prometheus stays there): the web tells the runtime where session
timings go with :meth:`Runtime.observe_sessions`.

This is the place a later issue makes per salon: the shared infrastructure (storage and its
pools, the change feed, the hashing pool, the workers) built once, a salon's services per salon.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType

from argon2 import PasswordHasher

from parlour.config import Settings, load_secret_key
from parlour.mail.delivery import DeliveryWorker, delivery_from_settings, mail_setup
from parlour.services.cache import ItemCache
from parlour.services.core import Core
from parlour.services.hashing import HashingPool
from parlour.services.notices.notifier import MailSetup
from parlour.services.ratelimit import Limiter, policies_from
from parlour.services.sessions import SessionRecord, SessionService
from parlour.storage import Storage
from parlour.storage.durability import Durability

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    settings: Settings
    storage: Storage
    secret_key: bytes
    limiter: Limiter
    hashing: HashingPool
    """The bounded pool every password hash runs in (services/hashing.py)."""
    mail: MailSetup
    core: Core
    session_cache: ItemCache[SessionRecord]
    sessions: SessionService
    durability: Durability
    """Whether Redis may be served from: not emptied, not evicting (storage/durability.py)."""
    delivery: DeliveryWorker
    """This process's mail worker: started by ``async with`` (serve) or by ``parlour worker``."""
    _running: AsyncExitStack | None = field(default=None, init=False, repr=False)

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
        core = Core.assemble(
            planned.kv, mail=mail, hashing=hashing, password_hasher=password_hasher
        )
        accounts = core.accounts

        async def credentials(email: str, fresh: bool) -> int | None:
            return await accounts.credentials_version(email, fresh=fresh)

        session_cache: ItemCache[SessionRecord] = ItemCache(
            planned.kv("sessions"), settings.session_cache_size
        )
        sessions = SessionService(
            planned.kv("sessions"),
            idle_timeout=settings.session_idle_timeout,
            absolute_timeout=settings.session_absolute_timeout,
            credentials=credentials,
            cache=session_cache,
        )

        def forget_copies() -> None:  # the store was emptied or replaced under us
            core.cache.clear()
            session_cache.clear()
            core.day_cache.clear()

        return cls(
            settings=settings,
            storage=planned,
            secret_key=secret,
            limiter=limiter,
            hashing=hashing,
            mail=mail,
            core=core,
            session_cache=session_cache,
            sessions=sessions,
            durability=Durability(planned, settings.data_dir, on_change=forget_copies),
            delivery=delivery_from_settings(
                settings, core.outboxes.all, limiter, secret, relay=mail.relay
            ),
        )

    def observe_sessions(self, observe: Callable[[str, float], None]) -> None:
        """Tell ``observe(operation, seconds)`` how long each session store operation took."""
        self.sessions.observe = observe

    async def __aenter__(self) -> Runtime:
        """Open the storage and start what a serving process runs."""
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.storage)
            for status in await self.storage.check():
                if status.error:
                    log.warning("%s is not answering yet: %s", status.description, status.error)
            core = self.core
            core.cache.start()
            self.session_cache.start()
            core.day_cache.start()
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
            await self.core.day_cache.stop()
            await self.session_cache.stop()
            await self.core.cache.stop()
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
