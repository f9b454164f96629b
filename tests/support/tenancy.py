"""Salons of a multi-tenant deployment for tests: each furnished (support/salon.py) and given
records of every kind a salon holds, with markers that say whose they are.

``open_salon`` fills one salon of a running multi-tenant app: staff and an admin, a treatment
and a therapist only it has, a booking (and its manage token), its client, a reviewed past
visit, a gallery photo, the booking's confirmation in its outbox and a password-reset link.
The isolation suite replays these ids and tokens at another salon's host.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import time as clock_time
from typing import Any

import httpx
from PIL import Image
from starlette.applications import Starlette

from parlour.config import NAMESPACES, PLATFORM_NAMESPACES
from parlour.domain.catalogue import Resource, Treatment
from parlour.domain.schedule import Hours, Schedule
from parlour.runtime import Runtime
from parlour.salons import SalonServices
from parlour.services.bookings.engine import BookingService
from parlour.services.catalogue import CatalogueService
from parlour.services.tenants import Salon
from parlour.storage import SalonStores, Storage

from support.redis_topologies import Cluster
from support.salon import MASSAGE, ask, at, client, furnish, past_visit, upcoming_weekday
from support.web import EventStream

PASSWORD = "correct horse battery"
JSONMap = dict[str, Any]


@dataclass(frozen=True)
class Furnished:
    """One salon's records and what names them (its ids, tokens, and the words only it has)."""

    salon: Salon
    services: SalonServices
    host: str
    staff: str
    admin: str
    treatment_id: str
    resource_id: str
    booking_id: str
    token: str
    client_id: str
    reviewed_id: str
    photo_id: str
    message_id: str
    reset_token: str
    markers: tuple[str, ...]
    """Words of this salon's private records only (names, addresses, review texts, ids, tokens):
    its public pages (treatments, therapists, photos) show none of them."""
    public: tuple[str, ...]
    """Words its public pages show (its name, a treatment, a therapist, a photo)."""


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (120, 80, 100)).save(out, "JPEG")
    return out.getvalue()


async def open_salon(runtime: Runtime, slug: str, name: str, domain: str) -> Furnished:
    """A new active salon ``slug`` of ``runtime`` (a multi-tenant one), with one record of each
    kind. Every word it writes has ``slug`` in it: its public ones (a treatment's name...)
    ``<slug>...``, its private ones ``<slug>zz...``."""
    assert runtime.tenants is not None
    assert runtime.salons is not None
    salon = await runtime.tenants.create(slug, name, f"owner@{slug}.test")
    services = runtime.salons.services(salon)
    kv = services.stores.kv
    core = services.core
    catalogue = await furnish(kv)
    await catalogue.put_business(replace(await catalogue.business(), name=name))
    own_resource = Resource(
        f"r_{slug}_only",
        f"{slug}Therapist",
        Schedule(weekly=((Hours(clock_time(9), clock_time(17)),),) * 7),
    )
    await catalogue.put_resource(own_resource)
    own_treatment = Treatment(
        id=f"t_{slug}_only",
        name=f"{slug}Ritual",
        duration=30,
        price=1234,
        resource_ids=(own_resource.id,),
    )
    await catalogue.put_treatment(own_treatment)
    staff, admin = f"{slug}zzstaff@example.com", f"{slug}zzadmin@example.com"
    await core.accounts.create_user(staff, "staff", PASSWORD)
    await core.accounts.create_user(admin, "admin", PASSWORD)
    day = upcoming_weekday()
    fields = client(1, name=f"{slug}zzClient", email=f"{slug}zzclient@example.com")
    booked = await core.bookings.book(
        ask({"treatment": own_treatment.id, "start": at(10, day=day), **fields})
    )
    visit, visit_token = await past_visit(kv, catalogue, 2)
    await core.reviews.submit(visit, "5", f"{slug}zzReview: lovely")
    photo = await core.gallery.upload(jpeg(), f"{slug}Caption")
    rows = (await core.clients.page()).clients
    client_id = next(row.id for row in rows if row.email == fields["email"])
    listing = await core.outboxes.listing(time.time())
    message_id = next(m.id for messages in listing.values() for _, m in messages)
    asked = await core.accounts.ask_reset(staff)
    assert asked is not None
    return Furnished(
        salon=salon,
        services=services,
        host=f"{slug}.{domain}",
        staff=staff,
        admin=admin,
        treatment_id=own_treatment.id,
        resource_id=own_resource.id,
        booking_id=booked.booking.id,
        token=booked.token,
        client_id=client_id,
        reviewed_id=visit.id,
        photo_id=photo.id,
        message_id=message_id,
        reset_token=asked.token,
        markers=(
            *(f"{slug}zz{word}" for word in ("Client", "client@", "Review", "admin", "staff")),
            booked.booking.id,
            booked.token,
            visit_token,
            client_id,
            asked.token,
        ),
        public=(name, f"{slug}Ritual", f"{slug}Therapist", f"{slug}Caption", photo.id),
    )


async def snapshot(stores: SalonStores, *, leaving: tuple[str, ...] = ()) -> dict[str, JSONMap]:
    """Every key and value of a salon's namespaces (but those in ``leaving``)."""
    return {
        namespace: await stores.kv(namespace).get_all_items()
        for namespace in NAMESPACES
        if namespace not in PLATFORM_NAMESPACES and namespace not in leaving
    }


# -- salons spread over a Redis Cluster (tests/tenancy/test_cluster.py, bench/cluster_spread.py)

SALON_KEYS = "*{s.*}*"
"""A SCAN pattern for every key of every salon on Redis (``parlour:{s.<slug>}:...``)."""


async def furnish_salons(storage: Storage, slugs: Sequence[str]) -> dict[str, CatalogueService]:
    """Each salon's catalogue (support/salon.py furnish), written through its own stores."""
    return {slug: await furnish(storage.salon(slug).kv) for slug in slugs}


async def book_in_each(storage: Storage, catalogues: dict[str, CatalogueService]) -> int:
    """One booking in each salon, through the engine over its stores; how many were made."""
    day = upcoming_weekday()
    for slug, catalogue in catalogues.items():
        engine = BookingService(storage.salon(slug).kv("bookings"), catalogue)
        await engine.book(ask({"treatment": MASSAGE.id, "start": at(10, day=day), **client(1)}))
    return len(catalogues)


def salon_keys_per_master(cluster: Cluster) -> list[int]:
    """How many salons' keys each master holds (SCAN on each, never KEYS)."""
    counts = []
    for master in cluster.masters:
        with master.client() as node:
            counts.append(sum(1 for _ in node.scan_iter(match=SALON_KEYS, count=1000)))
    return counts


def calls_per_master(cluster: Cluster) -> list[int]:
    """Commands each master has run since it started (INFO commandstats, every command)."""
    totals = []
    for master in cluster.masters:
        with master.client() as node:
            stats = node.info("commandstats")
            totals.append(sum(int(entry["calls"]) for entry in stats.values()))
    return totals


def spread(counts: Sequence[int]) -> list[float]:
    """Each count as a multiple of an even share of their sum."""
    even = sum(counts) / len(counts)
    return [count / even for count in counts]


class SalonEventStream(EventStream):
    """``support.web.EventStream`` at a salon's host, telling each event's data too."""

    def __init__(self, app: Starlette, path: str, cookies: httpx.Cookies, host: str) -> None:
        super().__init__(app, path, cookies)
        kept: list[tuple[bytes, bytes]] = self._scope["headers"]  # type: ignore[assignment]
        headers = [(name, value) for name, value in kept if name != b"host"]
        self._scope["headers"] = [(b"host", host.encode()), *headers]

    async def __aenter__(self) -> SalonEventStream:
        await super().__aenter__()
        return self

    async def next_booking(self, timeout: float = 10.0) -> str:
        """The booking id of the next ``booking`` event (others are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                if "\n\n" in self._buffer:
                    block, self._buffer = self._buffer.split("\n\n", 1)
                    lines = block.splitlines()
                    if "event: booking" in lines:
                        data = next(line for line in lines if line.startswith("data: "))
                        return str(json.loads(data.removeprefix("data: "))["id"])
                    continue
                self._buffer += await self._chunks.get()
