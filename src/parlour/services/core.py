"""The application core: every use case of one process, assembled once from its stores.

The process's :class:`~parlour.runtime.Runtime` assembles it; the web app, the command line and
the workers all call its services, and none of them builds a service of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher

from parlour.services.accounts import AccountService
from parlour.services.audit import AuditService
from parlour.services.bookings.calendar_days import CalendarDays
from parlour.services.bookings.day_cache import DayCache
from parlour.services.bookings.engine import BookingService
from parlour.services.cache import NamespaceCache
from parlour.services.catalogue import CatalogueService
from parlour.services.clients.records import ClientRecords
from parlour.services.clients.service import ClientService
from parlour.services.gallery import GalleryService
from parlour.services.hashing import HashingPool
from parlour.services.notices.notifier import MailSetup, Notifier
from parlour.services.outbox.outboxes import Outboxes
from parlour.services.reviews import ReviewService
from parlour.services.twofactor import TwoFactorService
from parlour.storage.base import KVStore

CACHED = ("business", "treatments", "resources", "gallery", "users", "clients")
"""Namespaces read on almost every page and changed rarely: kept per process (services.cache).
``users`` is there for the credentials version every staff request compares its session with,
``clients`` for the alert book every page of appointments shows (services.clients.people)."""


@dataclass(frozen=True, slots=True)
class Core:
    catalogue: CatalogueService
    bookings: BookingService
    reviews: ReviewService
    gallery: GalleryService
    accounts: AccountService
    cache: NamespaceCache
    day_cache: DayCache
    """Availability's day lists, kept per process (services.availability_cache)."""
    outboxes: Outboxes
    audit: AuditService
    twofactor: TwoFactorService
    notifier: Notifier | None
    """What booking changes send; ``None`` for a core that makes no messages (a command that
    only reads)."""
    days: CalendarDays
    records: ClientRecords
    clients: ClientService

    @classmethod
    def assemble(
        cls,
        kv: Callable[[str], KVStore],
        *,
        mail: MailSetup | None = None,
        hashing: HashingPool | None = None,
        password_hasher: PasswordHasher | None = None,
    ) -> Core:
        """The services over ``kv`` (``Storage.kv``). Nothing connects or starts here: the
        owner starts :attr:`cache` and :attr:`day_cache` once its storage is open (unstarted,
        they keep nothing and every read goes to the store). With ``mail``, every booking
        change stages its messages into its own transact. ``hashing`` is the pool password
        hashes run in (a small default one without it); ``password_hasher`` makes and checks them
        (argon2's defaults without it)."""
        cache = NamespaceCache([kv(namespace) for namespace in CACHED])
        catalogue = CatalogueService(kv("business"), kv("treatments"), kv("resources"), cache=cache)
        notifier = (
            None
            if mail is None
            else Notifier(kv("bookings"), catalogue, mail.sealer, mail.links, mail.policy)
        )
        accounts = AccountService(
            kv("users"),
            cache=cache,
            stage=None if notifier is None else notifier.stage_reset,
            hashing=hashing,
            hasher=password_hasher,
        )
        day_cache = DayCache(kv("bookings"))
        bookings = BookingService(
            kv("bookings"),
            catalogue,
            stage=None if notifier is None else notifier.stage,
            days=day_cache,
            relay=None if mail is None else mail.relay,
        )
        records = ClientRecords(kv("bookings"), seal=None if mail is None else mail.sealer.seal)
        reviews = ReviewService(kv("reviews"))
        return cls(
            catalogue=catalogue,
            bookings=bookings,
            reviews=reviews,
            gallery=GalleryService(kv("gallery"), cache=cache),
            accounts=accounts,
            cache=cache,
            day_cache=day_cache,
            outboxes=Outboxes(kv),
            audit=AuditService(kv("audit")),
            twofactor=TwoFactorService(accounts),
            notifier=notifier,
            days=CalendarDays(bookings, catalogue),
            records=records,
            clients=ClientService(records, kv("clients"), reviews, kv("reviews"), cache=cache),
        )
