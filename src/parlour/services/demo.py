"""A believable salon for a first look: treatments, two therapists, hours, bookings, reviews and
a few photos (drawn here, never downloaded). It fills only an empty catalogue."""

from __future__ import annotations

import io
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from PIL import Image, ImageDraw

from parlour.domain.booking import Status
from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.schedule import Hours, Schedule
from parlour.services.accounts import AccountService
from parlour.services.bookings import BookingService
from parlour.services.catalogue import Business, CatalogueService
from parlour.services.gallery import GalleryService
from parlour.services.reviews import ReviewService
from parlour.storage.base import KVStore

DAY = (Hours(time(9), time(13)), Hours(time(13, 30), time(17, 30)))
LATE = (Hours(time(10), time(19)),)
TREATMENTS = [
    (
        "Signature facial",
        "Facials",
        60,
        10,
        10,
        6500,
        "Cleanse, exfoliate, massage and a mask chosen for your skin.",
    ),
    ("Express facial", "Facials", 30, 5, 5, 3500, "A quick refresh for a lunch break."),
    (
        "Deep tissue massage",
        "Massage",
        60,
        0,
        15,
        7000,
        "Firm pressure for knotted shoulders and backs.",
    ),
    (
        "Hot stone massage",
        "Massage",
        90,
        15,
        15,
        9500,
        "Warm basalt stones and long, slow strokes.",
    ),
    (
        "Gel manicure",
        "Hands & feet",
        45,
        0,
        10,
        3800,
        "Shaped, buffed and finished with long-wear gel.",
    ),
    ("Spa pedicure", "Hands & feet", 50, 0, 10, 4200, "A soak, scrub and polish for tired feet."),
    (
        "Brow shape and tint",
        "Brows & lashes",
        30,
        0,
        5,
        2800,
        "Shaped by thread or wax, tinted to suit.",
    ),
]
CLIENTS = [
    ("Amira Hassan", "amira@example.com"),
    ("Ben Carter", "ben@example.org"),
    ("Chloe Martin", "chloe.m@example.net"),
    ("Daniel Okafor", "dan@example.com"),
    ("Ella Novak", "ella@example.org"),
    ("Femi Adeyemi", "femi@example.com"),
]
REVIEWS = [
    (5, "The best facial I've had in years. Calm, unhurried and my skin glowed for days."),
    (5, "Maya found every knot in my shoulders. I'll be back next month."),
    (4, "Lovely manicure that lasted three weeks. Booking online took a minute."),
    (5, "Warm welcome, spotless room, and they remembered how I like my brows."),
]


@dataclass(frozen=True, slots=True)
class Seeded:
    admin_email: str
    admin_password: str


async def seed(kv: Callable[[str], KVStore], now: datetime | None = None) -> Seeded | None:
    """Fill an empty catalogue; ``None`` (and nothing written) if there is one already.
    ``kv`` gives the store of a namespace (``Storage.kv``)."""
    now = now or datetime.now(UTC)
    catalogue = CatalogueService(kv("business"), kv("treatments"), kv("resources"))
    if await catalogue.treatments():
        return None
    await catalogue.put_business(
        Business(
            name="Willow & Ivy Spa",
            currency="GBP",
            address="12 Orchard Lane, Bath",
            phone="01225 555 0100",
            rules=BookingRules(timezone="Europe/London"),
        )
    )
    maya = Resource("r_maya", "Maya", Schedule(weekly=((), DAY, DAY, DAY, DAY, DAY, ())))
    jonah = Resource("r_jonah", "Jonah", Schedule(weekly=(LATE, LATE, LATE, LATE, LATE, (), ())))
    for resource in (maya, jonah):
        await catalogue.put_resource(resource)
    treatments = []
    for number, (name, category, minutes, before, after, price, text) in enumerate(TREATMENTS):
        treatment = Treatment(
            id=f"t_{number + 1}",
            name=name,
            category=category,
            duration=minutes,
            buffer_before=before,
            buffer_after=after,
            price=price,
            description=text,
            resource_ids=("r_maya", "r_jonah") if category != "Massage" else ("r_maya",),
        )
        await catalogue.put_treatment(treatment)
        treatments.append(treatment)
    await _bookings(kv, catalogue, treatments, now)
    await _photos(GalleryService(kv("gallery")))
    password = secrets.token_urlsafe(12)
    accounts = AccountService(kv("users"))
    if await accounts.get("admin@example.com") is None:
        await accounts.create_user("admin@example.com", "admin", password)
    return Seeded("admin@example.com", password)


async def _bookings(
    kv: Callable[[str], KVStore],
    catalogue: CatalogueService,
    treatments: list[Treatment],
    now: datetime,
) -> None:
    chooser = random.Random(7)  # noqa: S311 - demo data, not secrets
    reviews = ReviewService(kv("reviews"))
    made = 0
    # Two weeks ago through next week: the past ones done (some reviewed), the rest confirmed.
    for days in range(-14, 8):
        when = now + timedelta(days=days)
        service = BookingService(kv("bookings"), catalogue, clock=_fixed(when - timedelta(days=3)))
        for _ in range(chooser.randint(1, 3)):
            treatment = chooser.choice(treatments)
            _, slots = await service.availability(treatment.id, when.date())
            if not slots:
                continue
            slot = chooser.choice(slots)
            name, email = chooser.choice(CLIENTS)
            booked = await service.book(
                {
                    "treatment": treatment.id,
                    "start": slot.start.isoformat(),
                    "name": name,
                    "email": email,
                    "phone": "07700 900" + f"{made:03d}",
                }
            )
            made += 1
            if slot.start < now:
                status = Status.NO_SHOW if made % 9 == 0 else Status.COMPLETED
                done = await service.set_status(booked.booking, status)
                if status is Status.COMPLETED and made % 2 == 0:
                    stars, text = REVIEWS[made % len(REVIEWS)]
                    await reviews.submit(done, str(stars), text)
                    if made % 3:
                        await reviews.moderate(done.id, "approved")


def _fixed(instant: datetime) -> Callable[[], datetime]:
    """A clock stopped at ``instant``: bookings are made as if on that day."""
    return lambda: instant


async def _photos(gallery: GalleryService) -> None:
    palettes = [
        ((214, 191, 201), (138, 79, 125)),
        ((205, 226, 214), (64, 120, 96)),
        ((240, 224, 200), (176, 120, 70)),
        ((210, 220, 236), (80, 100, 150)),
    ]
    captions = ["Our treatment room", "Hot stones, warming", "The nail bar", "Tea after your visit"]
    for (light, dark), caption in zip(palettes, captions, strict=True):
        await gallery.upload(_painting(light, dark), caption)


def _painting(light: tuple[int, int, int], dark: tuple[int, int, int]) -> bytes:
    width, height = 1200, 800
    image = Image.new("RGB", (width, height), light)
    draw = ImageDraw.Draw(image)
    for row in range(height):  # a soft vertical gradient
        mix = row / height
        draw.line(
            [(0, row), (width, row)],
            fill=tuple(int(a + (b - a) * mix * 0.6) for a, b in zip(light, dark, strict=True)),
        )
    for step in range(5):
        radius = 60 + step * 35
        centre = (300 + step * 140, 420 - step * 30)
        draw.ellipse(
            [centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius],
            outline=dark,
            width=6,
        )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()
