"""The application core: every use case of one process, assembled once from its stores.

The web app, the command line and the workers all hold one :class:`Core` and call its services;
none of them builds a service of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from parlour.services.accounts import AccountService
from parlour.services.audit import AuditService
from parlour.services.availability_cache import DayCache
from parlour.services.bookings import BookingService
from parlour.services.cache import NamespaceCache
from parlour.services.catalogue import CatalogueService
from parlour.services.gallery import GalleryService
from parlour.services.outboxes import Outboxes
from parlour.services.reviews import ReviewService
from parlour.services.twofactor import TwoFactorService
from parlour.storage.base import KVStore

CACHED = ("business", "treatments", "resources", "gallery", "users")
"""Namespaces read on almost every page and changed rarely: kept per process (services.cache).
``users`` is there for the credentials version every staff request compares its session with."""


@dataclass(frozen=True, slots=True)
class Core:
    catalogue: CatalogueService
    bookings: BookingService
    reviews: ReviewService
    gallery: GalleryService
    accounts: AccountService
    cache: NamespaceCache
    days: DayCache
    """Availability's day lists, kept per process (services.availability_cache)."""
    outboxes: Outboxes
    audit: AuditService
    twofactor: TwoFactorService

    @classmethod
    def assemble(cls, kv: Callable[[str], KVStore]) -> Core:
        """The services over ``kv`` (``Storage.kv``). Nothing connects or starts here: the
        owner starts :attr:`cache` and :attr:`days` once its storage is open (unstarted, they
        keep nothing and every read goes to the store)."""
        cache = NamespaceCache([kv(namespace) for namespace in CACHED])
        catalogue = CatalogueService(kv("business"), kv("treatments"), kv("resources"), cache=cache)
        accounts = AccountService(kv("users"), cache=cache)
        days = DayCache(kv("bookings"))
        return cls(
            catalogue=catalogue,
            bookings=BookingService(kv("bookings"), catalogue, days=days),
            reviews=ReviewService(kv("reviews")),
            gallery=GalleryService(kv("gallery"), cache=cache),
            accounts=accounts,
            cache=cache,
            days=days,
            outboxes=Outboxes(kv),
            audit=AuditService(kv("audit")),
            twofactor=TwoFactorService(accounts),
        )
