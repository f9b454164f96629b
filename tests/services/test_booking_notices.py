"""What each booking event stages (Notifier.stage), committed into the store as the engine
would commit it: the client's messages with a working manage link, the reminder that follows
the booking, and the staff alerts, each switchable."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import Resource
from parlour.domain.events import Actor, BookingEvent, Change
from parlour.domain.schedule import Schedule
from parlour.links import Links
from parlour.mail.render import Renderer
from parlour.services.bookings import BookingService
from parlour.services.catalogue import resource_from_json, resource_to_json
from parlour.services.notifications import NoticePolicy, Notifier, reminder_id
from parlour.services.outbox import Message, Outbox, Staged, State
from parlour.services.sealing import Sealer
from parlour.storage import Backend, KVStore

from support.salon import FACIAL, NOW, at, client, furnish

SEALER = Sealer(b"s" * 48)
LINKS = Links("https://book.example.com")
POLICY = NoticePolicy(reminder_before=86400, staff_alerts_to="desk@salon.example")


class Salon:
    def __init__(self, store: KVStore, bookings: BookingService, notifier: Notifier) -> None:
        self.store = store
        self.bookings = bookings
        self.notifier = notifier
        self.outbox = Outbox(store)

    async def commit(self, event: BookingEvent) -> Staged:
        """As the engine does: the staged writes in one transact (here, after the change)."""
        staged = await self.notifier.stage(event)
        assert await self.store.transact(staged.writes, expect=staged.expect, merge=staged.merge)
        return staged

    async def book(self, hour: int = 10, by: Actor = Actor.CLIENT) -> tuple[Booking, str]:
        booked = await self.bookings.book(
            {"treatment": FACIAL.id, "start": at(hour), "resource": "r_ann", **client(1)}
        )
        await self.commit(BookingEvent(Change.BOOKED, booked.booking, None, by, NOW, booked.token))
        return booked.booking, booked.token

    async def messages(self) -> list[Message]:
        listed = await self.outbox.listing(NOW.timestamp() + 365 * 86400)
        return [m for state in listed.values() for m in state]

    async def kinds(self) -> dict[str, list[Message]]:
        found: dict[str, list[Message]] = {}
        for message in await self.messages():
            found.setdefault(message.kind, []).append(message)
        return found


@pytest.fixture
async def salon(data_backend: Backend) -> Salon:
    def kv(namespace: str) -> KVStore:
        return KVStore(data_backend, namespace)

    catalogue = await furnish(kv)
    ann = next(r for r in await catalogue.resources() if r.id == "r_ann")
    await catalogue.put_resource(replace(ann, email="ann@salon.example"))
    store = kv("bookings")
    bookings = BookingService(store, catalogue, clock=lambda: NOW)
    return Salon(store, bookings, Notifier(store, catalogue, SEALER, LINKS, POLICY))


def render(message: Message) -> Any:
    mail = Renderer("Salon <bookings@salon.example>", SEALER.unseal).email(message)
    return message_from_bytes(mail.as_bytes(), policy=policy.default)


async def test_a_booking_is_confirmed_with_a_link_that_opens_it_and_its_calendar(
    salon: Salon,
) -> None:
    booking, token = await salon.book()
    kinds = await salon.kinds()
    (confirmation,) = kinds["confirmation"]
    assert confirmation.to == ("client1@example.com",)
    assert confirmation.limited  # a public action: the mail limits apply
    mail = render(confirmation)
    text = mail.get_body(("plain",)).get_content()
    link = LINKS.manage(token)
    assert link in text
    assert "until 24 hours before" in text  # the change and cancellation policy
    opened = await salon.bookings.by_token(link.rsplit("/", 1)[1])
    assert opened.id == booking.id
    (calendar,) = [part for part in mail.iter_attachments() if part.get_filename() == "booking.ics"]
    assert "BEGIN:VEVENT" in calendar.get_content()
    # Nothing but the sealed token is stored: no link in the clear anywhere.
    assert token not in str(await salon.store.get_all_items())


async def test_the_reminder_goes_a_day_before_and_none_inside_the_lead(salon: Salon) -> None:
    booking, _ = await salon.book(10)
    (reminder,) = (await salon.kinds())["reminder"]
    assert reminder.id == reminder_id(booking)
    assert reminder.due == (booking.start - timedelta(days=1)).timestamp()
    assert not reminder.limited
    late = await salon.bookings.book(
        {"treatment": FACIAL.id, "start": at(13), "resource": "r_bob", **client(2)}
    )
    inside = BookingEvent(
        Change.BOOKED, late.booking, None, Actor.CLIENT, late.booking.start - timedelta(hours=5)
    )
    staged = await salon.notifier.stage(replace(inside, token=late.token))
    assert not any(key.startswith("m:rem_") for key in staged.writes)


async def test_staff_alerts_go_to_the_business_and_the_therapist_each_switchable(
    salon: Salon,
) -> None:
    await salon.book()
    alerts = (await salon.kinds())["staff_new"]
    assert sorted(a.to for a in alerts) == [("ann@salon.example",), ("desk@salon.example",)]
    assert not any(a.limited for a in alerts)  # staff alerts are never held
    assert "/admin/bookings/" in render(alerts[0]).get_body(("plain",)).get_content()
    booked = await salon.bookings.book(
        {"treatment": FACIAL.id, "start": at(14), "resource": "r_ann", **client(3)}
    )
    event = BookingEvent(Change.BOOKED, booked.booking, None, Actor.CLIENT, NOW, booked.token)
    for switched, expected in [
        (NoticePolicy(therapist_alerts=False, staff_alerts_to="desk@salon.example"), 1),
        (NoticePolicy(therapist_alerts=True, staff_alerts_to=""), 1),
        (NoticePolicy(therapist_alerts=False, staff_alerts_to=""), 0),
    ]:
        salon.notifier.policy = switched
        staged = await salon.notifier.stage(event)
        kinds = [str(v["kind"]) for k, v in staged.writes.items() if k.startswith("m:")]
        assert sum(kind.startswith("staff") for kind in kinds) == expected


async def test_a_cancellation_is_told_and_its_reminder_never_goes(salon: Salon) -> None:
    booking, token = await salon.book()
    cancelled = await salon.bookings.cancel(booking, by_client=True)
    at_cancel = NOW + timedelta(minutes=5)
    await salon.commit(BookingEvent(Change.CANCELLED, cancelled, booking, Actor.CLIENT, at_cancel))
    kinds = await salon.kinds()
    assert "reminder" not in kinds
    assert await salon.outbox.get(reminder_id(booking)) is None
    due = (booking.start - timedelta(days=1)).timestamp()
    assert reminder_id(booking) not in {d.message_id for d in (await salon.outbox.scan(due)).due}
    (notice,) = kinds["cancelled"]
    (calendar,) = render(notice).iter_attachments()
    ics = calendar.get_content()
    assert "STATUS:CANCELLED" in ics
    assert f"URL:{LINKS.manage(token)}" in ics  # the sealed token outlived the booking command
    assert [a.to for a in kinds["staff_cancelled"]] != []


async def test_a_move_takes_its_reminder_with_it(salon: Salon) -> None:
    booking, token = await salon.book(10)
    moved = await salon.bookings.reschedule(booking, at(15), by_client=False)
    await salon.commit(BookingEvent(Change.MOVED, moved, booking, Actor.STAFF, NOW))
    kinds = await salon.kinds()
    (reminder,) = kinds["reminder"]
    assert reminder.id == reminder_id(moved)
    assert reminder.due == (moved.start - timedelta(days=1)).timestamp()
    assert await salon.outbox.get(reminder_id(booking)) is None
    (notice,) = kinds["moved"]
    assert not notice.limited  # staff moved it
    mail = render(notice)
    assert LINKS.manage(token) in mail.get_body(("plain",)).get_content()
    assert any(part.get_filename() == "booking.ics" for part in mail.iter_attachments())
    assert len(kinds["staff_moved"]) == 2


async def test_a_visit_marked_done_invites_a_review_once(salon: Salon) -> None:
    booking, token = await salon.book()
    done = await salon.bookings.set_status(booking, Status.COMPLETED)
    later = booking.start + timedelta(hours=2)
    await salon.commit(BookingEvent(Change.STATUS, done, booking, Actor.STAFF, later))
    again = await salon.notifier.stage(BookingEvent(Change.STATUS, done, done, Actor.STAFF, later))
    kinds = await salon.kinds()
    (invitation,) = kinds["review_invitation"]
    assert LINKS.manage(token) in render(invitation).get_body(("plain",)).get_content()
    assert again == Staged()
    assert "staff_cancelled" not in kinds


async def test_reinstating_a_cancelled_booking_brings_its_reminder_back(salon: Salon) -> None:
    booking, _ = await salon.book()
    cancelled = await salon.bookings.cancel(booking, by_client=False)
    await salon.commit(BookingEvent(Change.CANCELLED, cancelled, booking, Actor.STAFF, NOW))
    back = await salon.bookings.set_status(cancelled, Status.CONFIRMED)
    await salon.commit(BookingEvent(Change.STATUS, back, cancelled, Actor.STAFF, NOW))
    reminder = await salon.outbox.get(reminder_id(back))
    assert reminder is not None
    assert reminder.state is State.PENDING


def test_a_resource_stored_before_it_had_an_email_reads_as_having_none() -> None:
    data = resource_to_json(Resource("r_ann", "Ann", Schedule(weekly=((),) * 7)))
    del data["email"]
    assert resource_from_json(data).email == ""
