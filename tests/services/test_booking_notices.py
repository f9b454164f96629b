"""What each booking event stages (Notifier.stage), committed into the store as the engine
would commit it: the client's messages with a working manage link, the reminder that follows
the booking, and the staff alerts, each switchable."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest

from parlour.domain.booking import Status
from parlour.domain.catalogue import Resource
from parlour.domain.events import Actor
from parlour.domain.schedule import Schedule
from parlour.errors import SlotTaken
from parlour.links import Links
from parlour.mail.render import Renderer
from parlour.services.bookings.changes import Amendment
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.keys import sealed_link_key
from parlour.services.bookings.records import Booked, BookRequest, ClientDetails
from parlour.services.catalogue import CatalogueService, resource_from_json, resource_to_json
from parlour.services.clients.records import ClientRecords
from parlour.services.notices.notifier import NoticePolicy, Notifier, reminder_id
from parlour.services.outbox.keys import is_message
from parlour.services.outbox.records import Message, State
from parlour.services.outbox.store import Outbox
from parlour.services.sealing import Sealer
from parlour.storage import Backend, KVStore

from support.salon import FACIAL, NOW, at, client, furnish

SEALER = Sealer(b"s" * 48)
LINKS = Links("https://book.example.com")
POLICY = NoticePolicy(reminder_before=86400, staff_alerts_to="desk@salon.example")


class Salon:
    """The booking engine with the Notifier as its stage hook, as Core.assemble wires it."""

    def __init__(self, store: KVStore, catalogue: CatalogueService) -> None:
        self.store = store
        self.now = NOW
        self.notifier = Notifier(store, catalogue, SEALER, LINKS, POLICY)
        self.bookings = BookingService(
            store, catalogue, clock=lambda: self.now, stage=self.notifier.stage
        )
        self.outbox = Outbox(store)

    async def book(self, hour: int = 10, resource: str = "r_ann", n: int = 1) -> Booked:
        fields = {"treatment": FACIAL.id, "start": at(hour), "resource": resource, **client(n)}
        return await self.bookings.book(BookRequest.from_fields(fields))

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
    return Salon(kv("bookings"), catalogue)


def render(message: Message) -> Any:
    mail = Renderer("Salon <bookings@salon.example>", SEALER.unseal).email(message)
    return message_from_bytes(mail.as_bytes(), policy=policy.default)


async def test_a_booking_is_confirmed_with_a_link_that_opens_it_and_its_calendar(
    salon: Salon,
) -> None:
    booked = await salon.book()
    kinds = await salon.kinds()
    (confirmation,) = kinds["confirmation"]
    assert confirmation.to == ("client1@example.com",)
    assert confirmation.limited  # a public action: the mail limits apply
    mail = render(confirmation)
    text = mail.get_body(("plain",)).get_content()
    link = LINKS.manage(booked.token)
    assert link in text
    assert "until 24 hours before" in text  # the change and cancellation policy
    opened = await salon.bookings.by_token(link.rsplit("/", 1)[1])
    assert opened.id == booked.booking.id
    (calendar,) = [part for part in mail.iter_attachments() if part.get_filename() == "booking.ics"]
    assert "BEGIN:VEVENT" in calendar.get_content()
    # Nothing but the sealed token is stored: no link in the clear anywhere.
    assert booked.token not in str(await salon.store.get_all_items())


async def test_a_booking_that_does_not_commit_sends_nothing(salon: Salon) -> None:
    await salon.book(10)
    before = await salon.messages()
    with pytest.raises(SlotTaken):
        await salon.book(10, n=2)
    assert await salon.messages() == before


async def test_the_reminder_goes_a_day_before_and_none_inside_the_lead(salon: Salon) -> None:
    booking = (await salon.book(10)).booking
    (reminder,) = (await salon.kinds())["reminder"]
    assert reminder.id == reminder_id(booking)
    assert reminder.due == (booking.start - timedelta(days=1)).timestamp()
    assert not reminder.limited
    salon.now = booking.start - timedelta(hours=20)  # the next morning: inside the lead
    late = await salon.book(10, resource="r_bob", n=2)
    assert await salon.outbox.get(reminder_id(late.booking)) is None
    assert len((await salon.kinds())["confirmation"]) == 2


async def test_staff_alerts_go_to_the_business_and_the_therapist_each_switchable(
    salon: Salon,
) -> None:
    booked = await salon.book()
    alerts = (await salon.kinds())["staff_new"]
    assert sorted(a.to for a in alerts) == [("ann@salon.example",), ("desk@salon.example",)]
    assert not any(a.limited for a in alerts)  # staff alerts are never held
    assert "/admin/bookings/" in render(alerts[0]).get_body(("plain",)).get_content()
    assert booked.event is not None
    for switched, expected in [
        (NoticePolicy(therapist_alerts=False, staff_alerts_to="desk@salon.example"), 1),
        (NoticePolicy(therapist_alerts=True, staff_alerts_to=""), 1),
        (NoticePolicy(therapist_alerts=False, staff_alerts_to=""), 0),
    ]:
        salon.notifier.policy = switched
        staged = await salon.notifier.stage(booked.event)
        kinds = [str(v["kind"]) for k, v in staged.writes.items() if is_message(k)]
        assert sum(kind.startswith("staff") for kind in kinds) == expected


async def test_a_cancellation_is_told_and_its_reminder_never_goes(salon: Salon) -> None:
    booked = await salon.book()
    salon.now = NOW + timedelta(minutes=5)
    await salon.bookings.cancel(booked.booking, by_client=True)
    kinds = await salon.kinds()
    assert "reminder" not in kinds
    assert await salon.outbox.get(reminder_id(booked.booking)) is None
    due = (booked.booking.start - timedelta(days=1)).timestamp()
    assert reminder_id(booked.booking) not in {
        d.message_id for d in (await salon.outbox.scan(due)).due
    }
    (notice,) = kinds["cancelled"]
    assert notice.limited
    (calendar,) = render(notice).iter_attachments()
    ics = calendar.get_content()
    assert "STATUS:CANCELLED" in ics
    # The sealed token outlived the command that made the booking.
    assert f"URL:{LINKS.manage(booked.token)}" in ics
    assert len(kinds["staff_cancelled"]) == 2


async def test_a_move_takes_its_reminder_with_it(salon: Salon) -> None:
    booked = await salon.book(10)
    new_start = datetime.fromisoformat(at(15))
    moved = (await salon.bookings.reschedule(booked.booking, new_start, by_client=False)).booking
    kinds = await salon.kinds()
    (reminder,) = kinds["reminder"]
    assert reminder.id == reminder_id(moved)
    assert reminder.due == (moved.start - timedelta(days=1)).timestamp()
    assert await salon.outbox.get(reminder_id(booked.booking)) is None
    (notice,) = kinds["moved"]
    assert not notice.limited  # staff moved it
    mail = render(notice)
    assert LINKS.manage(booked.token) in mail.get_body(("plain",)).get_content()
    assert any(part.get_filename() == "booking.ics" for part in mail.iter_attachments())
    assert len(kinds["staff_moved"]) == 2


async def test_a_change_at_the_same_time_rewrites_the_waiting_reminder(salon: Salon) -> None:
    """Staff give the visit to Bob, then correct the client's name and e-mail address, the time
    unchanged: the one reminder waiting says Bob and goes to the new address (it named Ann and
    went to the old one). Removing the address takes the reminder away."""
    booked = await salon.book(10, resource="r_ann")
    with_bob = await salon.bookings.amend(booked.booking, Amendment(resource="r_bob"))
    (reminder,) = (await salon.kinds())["reminder"]
    assert reminder.id == reminder_id(booked.booking)  # the same message, rewritten
    assert reminder.due == (booked.booking.start - timedelta(days=1)).timestamp()
    text = render(reminder).get_body(("plain",)).get_content()
    assert "Bob" in text
    assert "Ann" not in text

    renamed = ClientDetails("Ria Renamed", "ria@example.com", "07700 900124")
    corrected = await salon.bookings.amend(with_bob.booking, Amendment(client=renamed))
    (reminder,) = (await salon.kinds())["reminder"]
    assert reminder.to == ("ria@example.com",)
    assert "Ria Renamed" in render(reminder).get_body(("plain",)).get_content()

    no_mail = ClientDetails("Ria Renamed", "", "07700 900124")
    await salon.bookings.amend(corrected.booking, Amendment(client=no_mail))
    assert "reminder" not in await salon.kinds()


async def test_a_visit_marked_done_invites_a_review_once(salon: Salon) -> None:
    booked = await salon.book()
    salon.now = booked.booking.start + timedelta(hours=2)
    done = await salon.bookings.set_status(booked.booking, Status.COMPLETED)
    again = await salon.bookings.set_status(done.booking, Status.COMPLETED)
    assert again.event is None
    kinds = await salon.kinds()
    (invitation,) = kinds["review_invitation"]
    assert LINKS.manage(booked.token) in render(invitation).get_body(("plain",)).get_content()
    assert "staff_cancelled" not in kinds


async def test_reinstating_a_cancelled_booking_brings_its_reminder_back(salon: Salon) -> None:
    booked = await salon.book()
    cancelled = await salon.bookings.cancel(booked.booking, by_client=False)
    assert await salon.outbox.get(reminder_id(booked.booking)) is None
    back = await salon.bookings.set_status(cancelled.booking, Status.CONFIRMED)
    reminder = await salon.outbox.get(reminder_id(back.booking))
    assert reminder is not None
    assert reminder.state is State.PENDING


async def test_a_phone_client_without_an_e_mail_is_sent_nothing_and_staff_are_told(
    salon: Salon,
) -> None:
    start = datetime.fromisoformat(at(11))
    phoned = BookRequest(
        FACIAL.id, start, ClientDetails("Phone Client", "", "07700 900123"), "r_ann"
    )
    booked = await salon.bookings.book(replace(phoned, by=Actor.STAFF))
    kinds = await salon.kinds()
    assert set(kinds) == {"staff_new"}
    assert await salon.outbox.get(reminder_id(booked.booking)) is None
    await salon.bookings.cancel(booked.booking, by_client=False)
    assert set(await salon.kinds()) == {"staff_new", "staff_cancelled"}


def test_a_resource_stored_before_it_had_an_email_reads_as_having_none() -> None:
    data = resource_to_json(Resource("r_ann", "Ann", Schedule(weekly=((),) * 7)))
    del data["email"]
    assert resource_from_json(data).email == ""


async def test_a_new_link_from_staff_is_the_one_later_messages_carry_and_erasing_removes_it(
    salon: Salon,
) -> None:
    booked = await salon.book(10)
    records = ClientRecords(salon.store, clock=lambda: salon.now, seal=SEALER.seal)
    _, token = await records.new_link(booked.booking.id)
    new_start = datetime.fromisoformat(at(15))
    current = await salon.bookings.get(booked.booking.id)
    await salon.bookings.reschedule(current, new_start, by_client=False)
    text = render((await salon.kinds())["moved"][0]).get_body(("plain",)).get_content()
    assert LINKS.manage(token) in text  # the link the client holds now, not the dead one
    assert LINKS.manage(booked.token) not in text
    await records.erase_client(booked.booking.id)
    assert await salon.store.get_item(sealed_link_key(booked.booking.id)) is None
