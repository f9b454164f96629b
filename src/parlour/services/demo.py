"""A believable salon for a first look: treatments, three therapists with their own hours (one
with a day off this week), two weeks of bookings with gaps, reviews that speak of the treatment
they are filed under, and a few photos (drawn here, never downloaded). It fills only an empty
catalogue."""

from __future__ import annotations

import io
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from PIL import Image, ImageDraw

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.schedule import Hours, Schedule, to_utc
from parlour.services.accounts import AccountService
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.records import BookRequest, ClientDetails, Stage
from parlour.services.catalogue import Business, CatalogueService
from parlour.services.gallery import GalleryService
from parlour.services.reviews import ReviewService
from parlour.storage.base import KVStore

DAY = (Hours(time(9), time(13)), Hours(time(13, 30), time(17, 30)))
LATE = (Hours(time(10), time(19)),)
NAILS = (Hours(time(9, 30), time(17)),)
SUNDAY = (Hours(time(10), time(16)),)
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
PERFORMERS = {
    "Facials": ("r_maya", "r_jonah"),
    "Massage": ("r_maya",),
    "Hands & feet": ("r_priya", "r_jonah"),
    "Brows & lashes": ("r_priya", "r_maya"),
}
"""Who does what: Maya trained in massage, Priya runs the nail bar, Jonah covers both."""
CLIENTS = [
    ("Amira Hassan", "amira@example.com"),
    ("Ben Carter", "ben@example.org"),
    ("Chloe Martin", "chloe.m@example.net"),
    ("Daniel Okafor", "dan@example.com"),
    ("Ella Novak", "ella@example.org"),
    ("Femi Adeyemi", "femi@example.com"),
    ("Grace Liu", "grace.liu@example.com"),
    ("Hugo Silva", "hugo@example.net"),
    ("Isla Murray", "isla.m@example.org"),
    ("Kofi Mensah", "kofi@example.com"),
]
REVIEWS = {
    "Signature facial": [
        (5, "The best facial I've had in years. Calm, unhurried, and my skin glowed for days."),
        (4, "{therapist} explained every step of the facial. My skin feels brand new."),
    ],
    "Express facial": [(5, "A proper facial in half an hour: back at my desk looking rested.")],
    "Deep tissue massage": [
        (5, "{therapist} found every knot in my shoulders. I'll be back next month."),
        (4, "Firm, just as I asked. I slept better that night than in weeks."),
    ],
    "Hot stone massage": [(5, "The warm stones are pure bliss. Ninety minutes flew by.")],
    "Gel manicure": [
        (4, "Lovely manicure that lasted three weeks. Booking online took a minute."),
        (5, "{therapist} shaped my nails perfectly and the gel hasn't chipped."),
    ],
    "Spa pedicure": [(5, "My feet have never felt so soft. The soak alone is worth it.")],
    "Brow shape and tint": [
        (5, "Warm welcome, spotless room, and {therapist} remembered how I like my brows."),
    ],
}
"""A review speaks of the treatment it is filed under, and names who gave it."""


@dataclass(frozen=True, slots=True)
class Seeded:
    admin_email: str
    admin_password: str


async def seed(
    kv: Callable[[str], KVStore], now: datetime | None = None, *, stage: Stage | None = None
) -> Seeded | None:
    """Fill an empty catalogue; ``None`` (and nothing written) if there is one already.
    ``kv`` gives the store of a namespace (``Storage.kv``). With ``stage`` (the engine's hook,
    from ``Core``), one client books "just now", so /admin/outbox shows what a client is sent:
    the history is seeded without it (no mail about last week)."""
    now = now or datetime.now(UTC)
    catalogue = CatalogueService(kv("business"), kv("treatments"), kv("resources"))
    if await catalogue.treatments():
        return None
    rules = BookingRules(timezone="Europe/London")
    await catalogue.put_business(
        Business(
            name="Willow & Ivy Spa",
            currency="GBP",
            address="12 Orchard Lane, Bath",
            phone="01225 555 0100",
            rules=rules,
        )
    )
    today = now.astimezone(rules.zone).date()
    for resource in _team(today):
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
            resource_ids=PERFORMERS[category],
        )
        await catalogue.put_treatment(treatment)
        treatments.append(treatment)
    await _bookings(kv, catalogue, treatments, now)
    if stage is not None:
        service = BookingService(kv("bookings"), catalogue, clock=lambda: now, stage=stage)
        await _just_booked(service, treatments, today)
    await _photos(GalleryService(kv("gallery")))
    password = secrets.token_urlsafe(12)
    accounts = AccountService(kv("users"))
    if await accounts.get("admin@example.com") is None:
        await accounts.create_user("admin@example.com", "admin", password)
    return Seeded("admin@example.com", password)


def _team(today: date) -> list[Resource]:
    """Three therapists with their own weeks; Jonah takes a day off in the coming week (the
    second day he would work), so the calendar shows one."""
    jonah_works = (LATE, LATE, LATE, LATE, LATE, (), ())
    upcoming = [today + timedelta(days=n) for n in range(1, 8)]
    day_off = [day for day in upcoming if jonah_works[day.weekday()]][1]
    return [
        Resource("r_maya", "Maya", Schedule(weekly=((), DAY, DAY, DAY, DAY, DAY, ()))),
        Resource("r_jonah", "Jonah", Schedule(weekly=jonah_works, closed=frozenset({day_off}))),
        Resource(
            "r_priya", "Priya", Schedule(weekly=(NAILS, (), NAILS, NAILS, NAILS, NAILS, SUNDAY))
        ),
    ]


async def _bookings(
    kv: Callable[[str], KVStore],
    catalogue: CatalogueService,
    treatments: list[Treatment],
    now: datetime,
) -> None:
    """A week behind (done, a no-show, a cancellation, reviews) and a week ahead, busy near
    today and thinning out, with gaps between appointments as a real book has."""
    chooser = random.Random(7)  # noqa: S311 - demo data, not secrets
    reviews = ReviewService(kv("reviews"), clock=_fixed(now))
    zone = (await catalogue.business()).rules.zone
    today = now.astimezone(zone).date()
    made = 0
    untold = {name: list(texts) for name, texts in REVIEWS.items()}
    # What happened afterwards is recorded now: a visit is marked done once it has started.
    settler = BookingService(kv("bookings"), catalogue, clock=_fixed(now))
    for offset in range(-7, 8):
        day = today + timedelta(days=offset)
        booked_at = to_utc(day, time(0), zone) - timedelta(days=3)  # booked three days ahead
        service = BookingService(kv("bookings"), catalogue, clock=_fixed(booked_at))
        fullness = 0.8 if offset <= 1 else 0.65 if offset <= 4 else 0.4
        for resource in await catalogue.resources():
            cursor = booked_at
            while True:
                treatment = chooser.choice([t for t in treatments if resource.id in t.resource_ids])
                _, slots = await service.availability(treatment.id, day)
                slot = next(
                    (s for s in slots if s.start >= cursor and resource.id in s.resource_ids), None
                )
                if slot is None:
                    break
                if chooser.random() > fullness:  # a gap: nobody booked this stretch
                    cursor = slot.start + timedelta(minutes=chooser.choice((30, 45, 60, 90)))
                    continue
                name, email = CLIENTS[made % len(CLIENTS)]
                booked = await service.book(
                    BookRequest(
                        treatment.id,
                        slot.start,
                        ClientDetails(name, email, f"07700 900{made:03d}"),
                        resource.id,
                    )
                )
                made += 1
                cursor = booked.booking.end + timedelta(minutes=treatment.buffer_after)
                await _settle(settler, reviews, booked.booking, resource, now, made, untold)


async def _just_booked(service: BookingService, treatments: list[Treatment], today: date) -> None:
    """The last free time of a treatment within the coming week, booked now by a new client."""
    for offset in range(2, 9):
        _, slots = await service.availability(treatments[0].id, today + timedelta(days=offset))
        if slots:
            client = ClientDetails("Fern Ashby", "fern@example.com", "07700 900777")
            await service.book(BookRequest(treatments[0].id, slots[-1].start, client))
            return


async def _settle(
    service: BookingService,
    reviews: ReviewService,
    booking: Booking,
    resource: Resource,
    now: datetime,
    made: int,
    untold: dict[str, list[tuple[int, str]]],
) -> None:
    """What happened to a booking: done (some reviewed), a rare no-show or cancellation."""
    if made % 23 == 0:
        await service.set_status(booking, Status.CANCELLED)
        return
    if booking.start >= now:
        return
    if made % 17 == 0:
        await service.set_status(booking, Status.NO_SHOW)
        return
    done = (await service.set_status(booking, Status.COMPLETED)).booking
    unwritten = untold.get(booking.treatment_name, [])
    if made % 3 == 0 and unwritten and done.reviewable(now):  # each review once
        stars, text = unwritten.pop(0)
        await reviews.submit(done, str(stars), text.format(therapist=resource.name))
        if made % 4:
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
