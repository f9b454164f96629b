"""A small salon for tests: one business, two therapists, three treatments, a stopped clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import BookingRules, Resource, Treatment
from parlour.domain.events import Actor
from parlour.domain.schedule import Hours, Schedule, to_utc
from parlour.services.bookings.records import BookRequest
from parlour.services.catalogue import Business, CatalogueService
from parlour.storage.base import KVStore

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
"""A Tuesday morning in London (GMT), before opening."""
DAY = date(2026, 12, 2)
"""The next day: bookable, a Wednesday."""
WEEKDAYS = (Hours(time(9), time(17)),)

FACIAL = Treatment(
    id="t_facial",
    name="Facial",
    duration=60,
    buffer_before=10,
    buffer_after=10,
    price=6500,
    resource_ids=("r_ann", "r_bob"),
    category="Facials",
)
MASSAGE = Treatment(
    id="t_massage",
    name="Massage",
    duration=30,
    price=4000,
    resource_ids=("r_ann",),
    category="Massage",
)
RETIRED = Treatment(
    id="t_old",
    name="Old thing",
    duration=30,
    price=100,
    resource_ids=("r_ann",),
    active=False,
)


LONDON = ZoneInfo("Europe/London")


def at(hour: int, minute: int = 0, day: date = DAY) -> str:
    """A London wall-clock time on ``day``, as the API takes it (UTC, with its offset)."""
    return to_utc(day, time(hour, minute), LONDON).isoformat()


def upcoming_weekday(days_ahead: int = 3) -> date:
    """A Monday-to-Friday at least ``days_ahead`` days from today in London: bookable by the
    real clock, and far enough ahead for a client to change it before the cut-off."""
    day = datetime.now(LONDON).date() + timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def furnish(
    kv: Callable[[str], KVStore], *, cutoff_hours: int = 24, phone: str = "", address: str = ""
) -> CatalogueService:
    catalogue = CatalogueService(kv("business"), kv("treatments"), kv("resources"))
    await catalogue.put_business(
        Business(
            name="Test Salon",
            phone=phone,
            address=address,
            rules=BookingRules(
                timezone="Europe/London",
                min_notice=60,
                horizon_days=60,
                cancel_cutoff_hours=cutoff_hours,
            ),
        )
    )
    schedule = Schedule(weekly=(WEEKDAYS,) * 5 + ((), ()))
    await catalogue.put_resource(Resource("r_ann", "Ann", schedule))
    await catalogue.put_resource(Resource("r_bob", "Bob", schedule))
    for treatment in (FACIAL, MASSAGE, RETIRED):
        await catalogue.put_treatment(treatment)
    return catalogue


def client(n: int = 0, **changes: str) -> dict[str, str]:
    return {
        "name": f"Client {n}",
        "email": f"client{n}@example.com",
        "phone": "07700 900123",
        **changes,
    }


def ask(
    fields: Mapping[str, str], *, idempotency_key: str = "", staff: bool = False
) -> BookRequest:
    """A booking command from form-like fields, as the web form's adapter parses it."""
    by = Actor.STAFF if staff else Actor.CLIENT
    return BookRequest.from_fields(fields, idempotency_key=idempotency_key, by=by)


async def past_visit(
    kv: Callable[[str], KVStore], catalogue: CatalogueService, n: int = 7, *, done: bool = True
) -> tuple[Booking, str]:
    """A massage a week ago, marked done after it, and its manage link's token: booked and
    closed through the engine with its clock set at those times (the rules allow a visit to
    be marked done only once it has started, and reviewed only once it has ended)."""
    from parlour.services.bookings.engine import BookingService  # the engine, not what it uses

    day = datetime.now(LONDON).date() - timedelta(days=7)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    start = datetime.fromisoformat(at(10, day=day))
    booker = BookingService(kv("bookings"), catalogue, clock=lambda: start - timedelta(days=1))
    booked = await booker.book(
        ask({"treatment": MASSAGE.id, "start": at(10, day=day), **client(n)})
    )
    if not done:  # still confirmed: for a test that marks it done itself
        return booked.booking, booked.token
    closer = BookingService(kv("bookings"), catalogue, clock=lambda: booked.booking.end)
    completed = await closer.set_status(booked.booking, Status.COMPLETED)
    return completed.booking, booked.token
