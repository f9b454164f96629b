"""Reminders on both sides of a clock change go at the right local time, a cancelled
booking's reminder never goes, and a reminder says where the salon is today: bookings made
through the engine with the Notifier as its hook, delivered by the worker to a real SMTP
server, on every backend, with a clock the test moves."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from parlour.links import Links
from parlour.mail.delivery import DeliveryWorker, Retries
from parlour.mail.render import Renderer
from parlour.mail.transport import SmtpAddress, SmtpTransport
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.records import Booked, BookRequest
from parlour.services.catalogue import business_in
from parlour.services.notices.notifier import NoticePolicy, Notifier
from parlour.services.outbox.store import Outbox
from parlour.services.sealing import Sealer
from parlour.storage import Backend, KVStore

from support.salon import FACIAL, at, client, furnish
from support.smtp_server import SmtpServer

SEALER = Sealer(b"r" * 48)
LONDON = ZoneInfo("Europe/London")
BOOKED_AT = datetime(2026, 10, 19, 8, tzinfo=UTC)  # a Monday, a week before the clocks go back
BEFORE_CHANGE = date(2026, 10, 23)  # Friday, British Summer Time
AFTER_CHANGE = date(2026, 10, 26)  # Monday, Greenwich Mean Time (the change: Sunday 02:00)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now


def postman(
    store: KVStore, smtp_server: SmtpServer, clock: Clock, **more: Any
) -> tuple[SmtpTransport, DeliveryWorker]:
    """A worker for the salon's outbox, with the clock the test moves, and its transport."""
    transport = SmtpTransport(SmtpAddress.parse(smtp_server.url), "s@salon.example", timeout=5)
    worker = DeliveryWorker(
        [Outbox(store)],
        Renderer("Salon <s@salon.example>", SEALER.unseal),
        [transport],
        retries=Retries(max_attempts=3, base=1),
        clock=clock,
        **more,
    )
    return transport, worker


async def test_reminders_keep_the_salons_wall_clock_across_the_change(
    data_backend: Backend, smtp_server: SmtpServer
) -> None:
    def kv(namespace: str) -> KVStore:
        return KVStore(data_backend, namespace)

    store = kv("bookings")
    catalogue = await furnish(kv)
    lead = 2 * 86400  # two days: the Monday's reminder falls on the Saturday, before the change
    notifier = Notifier(
        store, catalogue, SEALER, Links("https://book.example.com"), NoticePolicy(lead)
    )
    bookings = BookingService(store, catalogue, clock=lambda: BOOKED_AT, stage=notifier.stage)

    async def book(day: date, resource: str, n: int) -> Booked:
        fields = {"treatment": FACIAL.id, "start": at(10, day=day), "resource": resource}
        return await bookings.book(BookRequest.from_fields({**fields, **client(n)}))

    friday = await book(BEFORE_CHANGE, "r_ann", 1)
    monday = await book(AFTER_CHANGE, "r_ann", 2)
    cancelled = await book(AFTER_CHANGE, "r_bob", 3)  # the same time: its reminder due with it
    await bookings.cancel(cancelled.booking, by_client=True)

    clock = Clock(BOOKED_AT)
    transport, worker = postman(store, smtp_server, clock)

    def reminders() -> list[tuple[str, float]]:
        return [
            (str(r.message["To"]), r.at)
            for r in smtp_server.received
            if str(r.message["Subject"]).startswith("Reminder")
        ]

    try:
        await worker.run_once()  # the confirmations and the cancellation notice go at once
        kinds = sorted(str(r.message["Subject"]).split(":")[0] for r in smtp_server.received)
        assert kinds == ["Booked", "Booked", "Booked", "Cancelled"]
        expected = [
            (friday, datetime(2026, 10, 21, 10, tzinfo=LONDON)),  # Wednesday 10:00 BST
            (monday, datetime(2026, 10, 24, 10, tzinfo=LONDON)),  # Saturday 10:00 BST
        ]
        for booked, local_ten in expected:
            due = local_ten.timestamp()
            clock.now = due - 1
            await worker.run_once()
            assert booked.booking.email not in {to for to, _ in reminders()}  # not early
            clock.now = due
            await worker.run_once()
            assert booked.booking.email in {to for to, _ in reminders()}  # on the dot
        # The Monday's reminder is out, so the cancelled booking's, due with it, would be too.
        clock.now = expected[1][1].timestamp() + 3600
        await worker.run_once()
        assert cancelled.booking.email not in {to for to, _ in reminders()}
        assert len(reminders()) == 2
        # The Monday booking's reminder says its time in GMT, the client's wall clock then.
        (monday_reminder,) = [
            r
            for r in smtp_server.received
            if str(r.message["Subject"]).startswith("Reminder")
            and str(r.message["To"]) == monday.booking.email
        ]
        text = monday_reminder.message.get_body(("plain",))
        assert text is not None
        assert "10:00 (GMT)" in text.get_content()
    finally:
        await transport.close()


async def test_a_reminder_says_where_the_salon_is_when_it_goes(
    data_backend: Backend, smtp_server: SmtpServer
) -> None:
    """A reminder is queued when the booking is made, weeks ahead; the salon moved and changed
    its phone since. It went with the old address (the business as it was when queued), and
    the client went to the old premises. It goes with the details the salon gives now."""

    def kv(namespace: str) -> KVStore:
        return KVStore(data_backend, namespace)

    store = kv("bookings")
    catalogue = await furnish(kv, phone="01225 000111", address="1 Old Street, Bath")
    notifier = Notifier(
        store, catalogue, SEALER, Links("https://book.example.com"), NoticePolicy(86400)
    )
    bookings = BookingService(store, catalogue, clock=lambda: BOOKED_AT, stage=notifier.stage)
    fields = {"treatment": FACIAL.id, "start": at(10, day=AFTER_CHANGE), "resource": "r_ann"}
    await bookings.book(BookRequest.from_fields({**fields, **client(1)}))
    moved = replace(await catalogue.business(), address="2 New Road, Bath", phone="01225 999888")
    await catalogue.put_business(moved)

    clock = Clock(BOOKED_AT)
    transport, worker = postman(
        store, smtp_server, clock, business_of=lambda outbox: business_in(kv("business"))
    )  # as runtime.py wires it
    try:
        clock.now = datetime(2026, 10, 25, 10, tzinfo=LONDON).timestamp()  # a day before
        await worker.run_once()
    finally:
        await transport.close()
    (reminder,) = [
        r for r in smtp_server.received if str(r.message["Subject"]).startswith("Reminder")
    ]
    body = reminder.message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "2 New Road, Bath" in text
    assert "01225 999888" in text
    assert "1 Old Street" not in text
