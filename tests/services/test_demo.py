"""The demo salon tells one consistent story: reviews match their treatments and therapists,
the coming week is busy with gaps, and one therapist has a day off in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from parlour.links import Links
from parlour.services.bookings.engine import BookingService
from parlour.services.catalogue import CatalogueService
from parlour.services.core import Core
from parlour.services.demo import REVIEWS, seed
from parlour.services.notices.notifier import MailSetup, NoticePolicy
from parlour.services.outbox.outboxes import Outboxes
from parlour.services.outbox.records import State
from parlour.services.reviews import ReviewService
from parlour.services.sealing import Sealer
from parlour.storage import KVStore
from parlour.storage.memory import MemoryBackend

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
async def demo() -> AsyncIterator[MemoryBackend]:
    backend = MemoryBackend()
    await backend.open()
    assert await seed(lambda namespace: KVStore(backend, namespace), NOW) is not None
    yield backend
    await backend.close()


def stores(backend: MemoryBackend) -> tuple[CatalogueService, BookingService, ReviewService]:
    def kv(namespace: str) -> KVStore:
        return KVStore(backend, namespace)

    catalogue = CatalogueService(kv("business"), kv("treatments"), kv("resources"))
    return catalogue, BookingService(kv("bookings"), catalogue), ReviewService(kv("reviews"))


async def test_every_review_speaks_of_its_own_treatment_and_therapist(demo: MemoryBackend) -> None:
    catalogue, bookings, reviews = stores(demo)
    written = list(await reviews.all())
    assert 4 <= len(written) <= sum(len(texts) for texts in REVIEWS.values())
    assert len({r.text for r in written}) == len(written)  # nothing said twice
    names = {r.id: r.name for r in await catalogue.resources()}
    for review in written:
        booking = await bookings.get(review.booking_id)
        assert review.treatment_name == booking.treatment_name
        templates = [t for _, t in REVIEWS[booking.treatment_name]]
        therapist = names[booking.resource_id]
        assert review.text in [t.format(therapist=therapist) for t in templates], review.text
        treatment = await catalogue.treatment(booking.treatment_id)
        assert booking.resource_id in treatment.resource_ids
    assert any(r.status == "approved" for r in written)
    assert any(r.status == "pending" for r in written)  # something to moderate


async def test_the_week_ahead_is_busy_with_gaps_and_one_day_off(demo: MemoryBackend) -> None:
    catalogue, bookings, _ = stores(demo)
    resources = await catalogue.resources()
    today = NOW.astimezone(LONDON).date()
    days_off = [
        (r.name, day)
        for r in resources
        for day in r.schedule.closed
        if today < day <= today + timedelta(days=7)
    ]
    assert len(days_off) == 1
    name, day_off = days_off[0]
    off = next(r for r in resources if r.name == name)
    assert off.schedule.weekly[day_off.weekday()], "the day off is a day they would work"
    assert await bookings.day(day_off, [off.id]) == []
    gaps = 0
    for offset in range(7):
        day = today + timedelta(days=offset)
        for resource in resources:
            if not resource.schedule.hours_on(day):
                continue
            found = [b for b in await bookings.day(day, [resource.id]) if b.holds_time]
            assert found, f"{resource.name} works on {day} and has nothing booked"
            worked = sum(
                (b - a).total_seconds() for a, b in resource.schedule.intervals(day, LONDON)
            )
            busy = sum(b.duration * 60 for b in found)
            gaps += busy < worked * 0.9
    assert gaps >= 5  # most working days have room left: a believable book, not a wall


async def test_the_demo_shows_a_confirmation_in_the_outbox() -> None:
    backend = MemoryBackend()
    await backend.open()

    def kv(namespace: str) -> KVStore:
        return KVStore(backend, namespace)

    mail = MailSetup(Sealer(b"d" * 48), Links("http://127.0.0.1:8000"), NoticePolicy())
    notifier = Core.assemble(kv, mail=mail).notifier
    assert notifier is not None
    assert await seed(kv, NOW, stage=notifier.stage) is not None
    listed = await Outboxes(kv).listing(NOW.timestamp())
    pending = [message for _, message in listed[State.PENDING]]
    (confirmation,) = [m for m in pending if m.kind == "confirmation"]
    assert confirmation.to == ("fern@example.com",)
    assert "reminder" in {m.kind for m in pending}  # due later, listed as scheduled
    await backend.close()
