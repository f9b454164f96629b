"""Intent as part of the booking (issue 24): a therapist asked for by name is kept by a move
unless the mover chooses another, a change of therapist is said in the moved e-mail, and staff's
overrides (a therapist alone, a treatment, a client's details, a squeeze-in outside hours) are
still decided by the unit claims."""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes, policy
from typing import Any

import pytest

from parlour.domain.events import Actor
from parlour.errors import InvalidInput, SlotTaken
from parlour.links import Links
from parlour.mail.render import Renderer
from parlour.services.bookings.changes import Amendment
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.records import Booked, BookRequest, ClientDetails
from parlour.services.notices.notifier import NoticePolicy, Notifier
from parlour.services.outbox.records import Message
from parlour.services.outbox.store import Outbox
from parlour.services.sealing import Sealer
from parlour.storage import Backend, KVStore

from support.salon import FACIAL, MASSAGE, NOW, at, client, furnish

SEALER = Sealer(b"s" * 48)


class Salon:
    def __init__(self, store: KVStore, bookings: BookingService) -> None:
        self.store = store
        self.bookings = bookings

    async def book(self, hour: int, resource: str = "", n: int = 1, **more: Any) -> Booked:
        fields = {"treatment": FACIAL.id, "start": at(hour), "resource": resource, **client(n)}
        request = BookRequest.from_fields(fields, by=more.pop("by", Actor.CLIENT))
        return await self.bookings.book(request)

    async def mails(self, kind: str) -> list[str]:
        listed = await Outbox(self.store).listing(NOW.timestamp() + 365 * 86400)
        found = [m for state in listed.values() for m in state if m.kind == kind]
        return [_text(m) for m in found]


def _text(message: Message) -> str:
    mail = Renderer("Salon <bookings@salon.example>", SEALER.unseal).email(message)
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    return str(parsed.get_body(("plain",)).get_content())  # type: ignore[union-attr]


@pytest.fixture
async def salon(data_backend: Backend) -> Salon:
    def kv(namespace: str) -> KVStore:
        return KVStore(data_backend, namespace)

    catalogue = await furnish(kv)
    store = kv("bookings")
    notifier = Notifier(
        store, catalogue, SEALER, Links("https://book.example.com"), NoticePolicy(86400, "")
    )
    service = BookingService(store, catalogue, clock=lambda: NOW, stage=notifier.stage)
    return Salon(store, service)


def instant(hour: int, minute: int = 0) -> datetime:
    return datetime.fromisoformat(at(hour, minute))


async def test_a_move_keeps_the_therapist_asked_for_unless_another_is_chosen(
    salon: Salon,
) -> None:
    """Issue 24, defects 1 and 2: a move silently changed the therapist."""
    mine = (await salon.book(10, "r_ann")).booking
    assert mine.requested
    await salon.book(14, "r_ann", n=2)  # Ann is busy at 14:00; Bob is free
    with pytest.raises(SlotTaken, match="Ann is not free"):
        await salon.bookings.reschedule(mine, instant(14), by_client=True)
    assert (await salon.bookings.get(mine.id)).start == mine.start
    _, listed = await salon.bookings.availability(
        FACIAL.id, instant(14).date(), ignoring=mine, resource="r_ann"
    )
    assert instant(14) not in [s.start for s in listed]
    kept = (await salon.bookings.reschedule(mine, instant(15, 30), by_client=True)).booking
    assert (kept.resource_id, kept.requested) == ("r_ann", True)
    bob = await salon.bookings.reschedule(kept, instant(14), by_client=True, resource="r_bob")
    assert (bob.booking.resource_id, bob.booking.requested) == ("r_bob", True)
    (changed,) = [m for m in await salon.mails("moved") if "not Ann" in m]
    assert "You are now with Bob, not Ann." in changed


async def test_a_booking_with_anyone_moves_to_whoever_is_free_and_the_mail_says_who(
    salon: Salon,
) -> None:
    mine = (await salon.book(10)).booking
    assert (mine.resource_id, mine.requested) == ("r_ann", False)
    await salon.book(14, "r_ann", n=2)
    moved = (await salon.bookings.reschedule(mine, instant(14), by_client=True)).booking
    assert (moved.resource_id, moved.requested) == ("r_bob", False)
    assert any("You are now with Bob, not Ann." in m for m in await salon.mails("moved"))


async def test_staff_change_the_therapist_alone_and_the_claims_still_decide(salon: Salon) -> None:
    mine = (await salon.book(10, "r_ann", by=Actor.STAFF)).booking
    other = (await salon.book(10, "r_bob", n=2)).booking
    with pytest.raises(SlotTaken):  # Bob is busy at 10:00: not even a squeeze-in takes it
        await salon.bookings.amend(mine, Amendment(resource="r_bob", squeeze=True))
    await salon.bookings.cancel(other, by_client=False)
    changed = (await salon.bookings.amend(mine, Amendment(resource="r_bob"))).booking
    assert (changed.start, changed.resource_id) == (mine.start, "r_bob")
    texts = await salon.mails("moved")
    assert any("has changed. You are now with Bob, not Ann." in m for m in texts)


async def test_a_squeeze_in_outside_hours_is_staff_only_and_cannot_double_book(
    salon: Salon,
) -> None:
    late = BookRequest(
        MASSAGE.id,
        instant(18, 5),
        ClientDetails("Late", "", "07700 900123"),
        "r_ann",
        by=Actor.STAFF,
    )
    with pytest.raises(InvalidInput):  # outside hours, without the override
        await salon.bookings.book(late)
    from dataclasses import replace

    squeezed = (await salon.bookings.book(replace(late, squeeze=True))).booking
    assert squeezed.start == instant(18, 5)
    with pytest.raises(SlotTaken, match="Ann has another booking then"):
        await salon.bookings.book(replace(late, start=instant(18, 20), squeeze=True))
    with pytest.raises(InvalidInput):  # a client cannot ask for it
        await salon.bookings.book(replace(late, start=instant(19), squeeze=True, by=Actor.CLIENT))


async def test_staff_edit_the_client_and_the_treatment(salon: Salon) -> None:
    mine = (await salon.book(10, "r_ann", by=Actor.STAFF)).booking
    await salon.book(11, "r_ann", n=2) if False else await salon.bookings.book(
        BookRequest.from_fields(
            {"treatment": FACIAL.id, "start": at(11, 30), "resource": "r_ann", **client(2)}
        )
    )  # a longer treatment at 10:00 would run into it
    details = ClientDetails("Renamed Person", "client1@example.com", "07700 900999")
    edited = (await salon.bookings.amend(mine, Amendment(client=details))).booking
    assert (edited.client_name, edited.phone, edited.start) == (
        "Renamed Person",
        "07700 900999",
        mine.start,
    )
    assert await salon.mails("moved") == []  # a corrected name tells nobody anything
    massage = (await salon.bookings.amend(edited, Amendment(treatment_id=MASSAGE.id))).booking
    assert (massage.treatment_name, massage.duration) == ("Massage", MASSAGE.duration)
    longer = Amendment(treatment_id=FACIAL.id, start=instant(10, 30))
    with pytest.raises(SlotTaken):
        await salon.bookings.amend(massage, longer)
