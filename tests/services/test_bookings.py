"""The booking service on memory, SQLite and Redis: claims, idempotency, the manage link."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from parlour.domain.booking import Status
from parlour.domain.events import Actor, BookingEvent, Change
from parlour.errors import Conflict, InvalidInput, NotFound, SlotTaken
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.keys import booking_key, day_key, is_booking, is_day
from parlour.services.reviews import ReviewService
from parlour.services.staged import Staged
from parlour.storage import Backend, KVStore
from parlour.storage.base import ABSENT
from parlour.storage.memory import MemoryBackend

from support.backends import DURABLE_KINDS, make_backend, params
from support.salon import DAY, FACIAL, MASSAGE, NOW, RETIRED, ask, at, client, furnish


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=params(["memory", *DURABLE_KINDS]))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    opened = make_backend(request.param, tmp_path, request)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def service(backend: Backend, clock: Clock) -> BookingService:
    def kv(namespace: str) -> KVStore:
        return KVStore(backend, namespace)

    return BookingService(kv("bookings"), await furnish(kv), clock=clock)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def starts(slots: Sequence[object]) -> list[str]:
    return [slot.start.isoformat() for slot in slots]  # type: ignore[attr-defined]


async def test_a_booking_claims_its_time_and_its_buffers(service: BookingService) -> None:
    booked = await service.book(
        ask({"treatment": FACIAL.id, "start": at(10), **client(), "resource": "r_ann"})
    )
    assert booked.created
    assert booked.booking.status is Status.CONFIRMED
    _, slots = await service.availability(FACIAL.id, DAY)
    ann_times = {s.start.isoformat() for s in slots if "r_ann" in s.resource_ids}
    # It holds Ann 09:50-11:10 (10 minutes either side); another facial needs 10 minutes
    # before and after too, so she is free again for one starting at 11:30 (11:20-12:40).
    assert at(10) not in ann_times
    assert at(11, 15) not in ann_times  # its preparation (11:05) meets the clearing up
    assert at(11, 30) in ann_times
    assert at(9, 30) not in ann_times  # 09:20-10:40 overlaps it
    bob = {s.start.isoformat() for s in slots if "r_bob" in s.resource_ids}
    assert at(10) in bob  # Bob is free


async def test_the_loser_of_a_slot_gets_fresh_alternatives(service: BookingService) -> None:
    await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client(1)}))
    with pytest.raises(SlotTaken) as caught:
        await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client(2)}))
    alternatives = starts(caught.value.alternatives)
    assert alternatives
    assert at(10) not in alternatives
    assert alternatives == sorted(alternatives)


async def test_concurrent_requests_for_one_slot_make_one_booking(service: BookingService) -> None:
    async def attempt(n: int) -> bool:
        try:
            await service.book(ask({"treatment": MASSAGE.id, "start": at(14), **client(n)}))
        except SlotTaken:
            return False
        return True

    results = await asyncio.gather(*(attempt(n) for n in range(20)))
    assert results.count(True) == 1
    day = await service.day(DAY, ["r_ann", "r_bob"])
    assert [b.start.isoformat() for b in day] == [at(14)]


async def test_a_second_therapist_takes_the_next_client(service: BookingService) -> None:
    first = await service.book(ask({"treatment": FACIAL.id, "start": at(12), **client(1)}))
    second = await service.book(ask({"treatment": FACIAL.id, "start": at(12), **client(2)}))
    # Nobody racing: "anyone free" follows the business's order (a loss spreads the rest).
    assert (first.booking.resource_id, second.booking.resource_id) == ("r_ann", "r_bob")
    with pytest.raises(SlotTaken):
        await service.book(ask({"treatment": FACIAL.id, "start": at(12), **client(3)}))


async def test_requests_racing_for_anyone_free_spread_over_the_therapists(
    backend: Backend, clock: Clock
) -> None:
    def kv(namespace: str) -> KVStore:
        return KVStore(backend, namespace)

    staged: list[str] = []
    both_in = asyncio.Event()

    async def stage(event: BookingEvent) -> Staged:
        # Both requests are committing at once: each waits in its commit for the other.
        staged.append(event.booking.resource_id)
        if len(staged) == 2:
            both_in.set()
        await asyncio.wait_for(both_in.wait(), timeout=10)
        return Staged()

    service = BookingService(kv("bookings"), await furnish(kv), clock=clock, stage=stage)
    wanted = [ask({"treatment": FACIAL.id, "start": at(12), **client(n)}) for n in (1, 2)]
    booked = await asyncio.gather(*(service.book(one) for one in wanted))
    # The second did not queue behind the first's claim on Ann (a commit lost, then Bob's):
    # it saw Ann being claimed in this process and went to Bob at once.
    assert sorted(b.booking.resource_id for b in booked) == ["r_ann", "r_bob"]
    assert sorted(staged) == ["r_ann", "r_bob"]


async def test_a_double_submit_makes_one_booking_and_the_same_link(service: BookingService) -> None:
    request = {"treatment": MASSAGE.id, "start": at(15), **client()}
    first = await service.book(ask(request, idempotency_key="form-123"))
    again = await service.book(ask(request, idempotency_key="form-123"))
    assert (again.created, again.booking.id, again.token) == (False, first.booking.id, first.token)
    with pytest.raises(Conflict, match="already used for a different booking"):
        await service.book(ask({**request, "start": at(16)}, idempotency_key="form-123"))


async def test_parallel_double_submits_make_one_booking(service: BookingService) -> None:
    request = {"treatment": FACIAL.id, "start": at(13), **client()}
    results = await asyncio.gather(
        *(service.book(ask(request, idempotency_key="same-form")) for _ in range(6)),
        return_exceptions=True,
    )
    booked = [r for r in results if not isinstance(r, BaseException)]
    assert booked, results
    assert len({r.booking.id for r in booked}) == 1
    assert len({r.token for r in booked}) == 1
    assert len(await service.day(DAY, ["r_ann", "r_bob"])) == 1


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"name": " "}, {"name"}),
        ({"email": "not-an-email"}, {"email"}),
        ({"phone": "call me"}, {"phone"}),
        ({"start": "tomorrow at ten"}, {"start"}),
        ({"start": "2026-12-02T10:00:00"}, {"start"}),  # no offset: ambiguous twice a year
        ({"name": "", "email": "", "phone": ""}, {"name", "email", "phone"}),
    ],
    ids=["name", "email", "phone", "start", "naive-start", "everything"],
)
async def test_invalid_requests_name_every_field(
    service: BookingService, changes: dict[str, str], fields: set[str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client(), **changes}))
    assert set(caught.value.fields) == fields


@pytest.mark.parametrize("start", [at(10, 7), at(8)], ids=["off-grid", "before-opening"])
async def test_times_that_are_not_offered_cannot_be_booked(
    service: BookingService, start: str
) -> None:
    # Refused as not offered, not as "just taken": nobody holds that time.
    with pytest.raises(InvalidInput, match="not offered"):
        await service.book(ask({"treatment": MASSAGE.id, "start": start, **client()}))


@pytest.mark.parametrize(
    ("start", "says"),
    [
        (at(10, day=DAY - timedelta(days=2)), "has passed"),
        (at(10, day=DAY + timedelta(days=90)), "60 days ahead"),
        ("9999-12-31T10:00:00+00:00", "between 1900 and 2999"),  # checked before arithmetic
    ],
    ids=["in-the-past", "beyond-the-horizon", "year-9999"],
)
async def test_times_outside_the_booking_window_are_explained(
    service: BookingService, start: str, says: str
) -> None:
    with pytest.raises(InvalidInput, match=says) as caught:
        await service.book(ask({"treatment": MASSAGE.id, "start": start, **client()}))
    assert set(caught.value.fields) == {"start"}


async def test_unknown_and_retired_treatments(service: BookingService) -> None:
    with pytest.raises(NotFound):
        await service.book(ask({"treatment": "t_nope", "start": at(10), **client()}))
    with pytest.raises(NotFound, match="not offered"):
        await service.book(ask({"treatment": RETIRED.id, "start": at(10), **client()}))


async def test_only_the_tokens_hash_is_stored(service: BookingService, backend: Backend) -> None:
    booked = await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client()}))
    everything = await KVStore(backend, "bookings").get_all_items()
    assert booked.token not in str(everything)
    assert (await service.by_token(booked.token)).id == booked.booking.id
    altered = booked.token[:-1] + ("B" if booked.token.endswith("A") else "A")
    for forged in ("", "x" * 10, altered, "../../etc"):
        with pytest.raises(NotFound):
            await service.by_token(forged)


async def test_a_client_cancels_before_the_cutoff_and_frees_the_time(
    service: BookingService, clock: Clock
) -> None:
    booked = await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client()}))
    cancelled = (await service.cancel(booked.booking, by_client=True)).booking
    assert cancelled.status is Status.CANCELLED
    _, slots = await service.availability(MASSAGE.id, DAY)
    assert at(10) in starts(slots)
    again = await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client(2)}))
    assert again.created
    with pytest.raises(Conflict, match="cancelled"):
        await service.reschedule(cancelled, instant(at(12)), by_client=True)
    clock.now = datetime.fromisoformat(at(10)) - timedelta(hours=23)
    with pytest.raises(Conflict, match="24 hours"):
        await service.cancel(again.booking, by_client=True)


async def test_rescheduling_moves_the_claim(service: BookingService) -> None:
    booked = await service.book(
        ask({"treatment": FACIAL.id, "start": at(10), **client(), "resource": "r_ann"})
    )
    moved = (
        await service.reschedule(booked.booking, instant(at(10, 30)), by_client=True)
    ).booking  # overlaps itself
    assert moved.start.isoformat() == at(10, 30)
    _, slots = await service.availability(MASSAGE.id, DAY)
    assert at(10) not in starts(slots)  # Ann's massage at 10:00 would meet the facial's prep
    moved_again = (await service.reschedule(moved, instant(at(15)), by_client=True)).booking
    _, slots = await service.availability(MASSAGE.id, DAY)
    assert at(10) in starts(slots)  # the old time is free again
    assert (await service.get(booked.booking.id)).start == moved_again.start
    other = await service.book(ask({"treatment": MASSAGE.id, "start": at(9), **client(2)}))
    with pytest.raises(InvalidInput, match="not offered"):  # its preparation is before opening
        await service.reschedule(moved_again, instant(at(9)), by_client=True)
    with pytest.raises(SlotTaken):  # Ann's massage at 9:00 meets the facial's preparation
        await service.reschedule(other.booking, instant(at(14, 30)), by_client=True)
    assert (await service.get(other.booking.id)).start.isoformat() == at(9)


async def test_staff_statuses_and_reinstating(service: BookingService, clock: Clock) -> None:
    booked = await service.book(ask({"treatment": MASSAGE.id, "start": at(11), **client()}))
    for early in (Status.COMPLETED, Status.NO_SHOW):  # issue 10, defect 6: days before the visit
        with pytest.raises(Conflict, match="once the visit has started"):
            await service.set_status(booked.booking, early)
    clock.now = booked.booking.start
    done = (await service.set_status(booked.booking, Status.COMPLETED)).booking
    assert not done.reviewable(clock.now)  # the visit is still going on
    assert done.reviewable(booked.booking.end)
    clock.now = NOW  # back before it, for a booking of the same time to be possible again
    cancelled = (await service.set_status(done, Status.CANCELLED)).booking
    await service.book(ask({"treatment": MASSAGE.id, "start": at(11), **client(2)}))
    with pytest.raises(SlotTaken):
        await service.set_status(cancelled, Status.CONFIRMED)  # its time is someone else's now
    listed = await service.day(DAY, ["r_ann"])
    assert sorted(b.status.value for b in listed) == ["cancelled", "confirmed"]


async def test_a_days_listing_reads_only_that_days_units(clock: Clock) -> None:
    class Recording(MemoryBackend):
        def __init__(self) -> None:
            super().__init__()
            self.keys: list[str] = []

        async def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
            self.keys.extend(keys)
            return await super().get_many(namespace, keys)

    backend = Recording()

    def kv(namespace: str) -> KVStore:
        return KVStore(backend, namespace)

    service = BookingService(kv("bookings"), await furnish(kv), clock=clock)
    ids = {}
    for offset in (0, 1, 2, 6):
        start = at(10, day=DAY + timedelta(days=offset))
        booked = await service.book(
            ask({"treatment": MASSAGE.id, "start": start, **client(offset)})
        )
        ids[offset] = booked.booking.id
    backend.keys.clear()
    await service.availability(MASSAGE.id, DAY + timedelta(days=1))
    days = {(DAY + timedelta(days=d)).isoformat() for d in (0, 1, 2)}
    lists = {key for key in backend.keys if is_day(key)}
    records = {key for key in backend.keys if is_booking(key)}
    assert {key.split(":")[1] for key in lists} == days  # the day and its neighbours only
    assert records == {booking_key(ids[d]) for d in (0, 1, 2)}  # not the booking six days away
    assert set(backend.keys) == lists | records  # no unit claims read: far fewer keys


async def test_a_day_a_booking_moved_away_from_stays_bookable(
    service: BookingService, backend: Backend
) -> None:
    # Issue 10, defect 1: the move left D's day list as [], and the next booking of D expected
    # it absent, so every later booking of D was refused as "changing too fast".
    booked = await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client(1)}))
    next_day = DAY + timedelta(days=1)
    await service.reschedule(booked.booking, instant(at(10, day=next_day)), by_client=True)
    again = await service.book(ask({"treatment": MASSAGE.id, "start": at(11), **client(2)}))
    assert again.created
    assert [b.id for b in await service.day(DAY, ["r_ann"])] == [again.booking.id]
    assert [b.id for b in await service.day(next_day, ["r_ann"])] == [booked.booking.id]


async def test_a_day_stored_as_a_list_by_an_older_version_still_reads_and_is_upgraded(
    service: BookingService, backend: Backend
) -> None:
    store = KVStore(backend, "bookings")
    first = await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client(1)}))
    key = day_key(DAY, "r_ann")
    await store.set_item(key, [first.booking.id])  # as versions before the merged index wrote it
    assert [b.id for b in await service.day(DAY, ["r_ann"])] == [first.booking.id]
    _, slots = await service.availability(MASSAGE.id, DAY)
    assert at(10) not in starts(slots)
    second = await service.book(ask({"treatment": MASSAGE.id, "start": at(12), **client(2)}))
    assert await store.get_item(key) == {first.booking.id: "", second.booking.id: ""}
    await store.set_item(key, [first.booking.id, second.booking.id])  # a move off an array too
    await service.reschedule(
        first.booking, instant(at(10, day=DAY + timedelta(days=1))), by_client=True
    )
    assert await store.get_item(key) == {second.booking.id: ""}


async def test_bookings_of_different_times_never_contend(service: BookingService) -> None:
    # Every start of Ann's day at once (back to back, no buffers): each claims its own units
    # and merges its line into the day, so every one succeeds at its first attempt.
    _, slots = await service.availability(MASSAGE.id, DAY)
    back_to_back = [s.start for s in slots if s.start.minute in (0, 30)]
    assert len(back_to_back) >= 14
    results = await asyncio.gather(
        *(
            service.book(ask({"treatment": MASSAGE.id, "start": start.isoformat(), **client(n)}))
            for n, start in enumerate(back_to_back)
        )
    )
    assert all(r.created for r in results)
    assert len(await service.day(DAY, ["r_ann"])) == len(back_to_back)


async def test_every_command_stages_its_event_into_its_own_step(
    backend: Backend, clock: Clock
) -> None:
    def kv(namespace: str) -> KVStore:
        return KVStore(backend, namespace)

    store, seen = kv("bookings"), []

    async def stage(event: BookingEvent) -> Staged:
        seen.append(event)
        key = f"m:{event.booking.id}:{len(seen)}"
        return Staged(writes={key: event.change.value}, merge={"mlog": {key: event.by.value}})

    service = BookingService(store, await furnish(kv), clock=clock, stage=stage)
    booked = await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client()}))
    assert booked.event.token == booked.token
    assert booked.event.before is None
    moved = await service.reschedule(booked.booking, instant(at(11)), by_client=True)
    assert moved.event is not None
    assert moved.event.before == booked.booking
    clock.now = moved.booking.start
    done = await service.set_status(moved.booking, Status.COMPLETED)
    cancelled = await service.cancel(done.booking, by_client=False)
    assert (await service.cancel(cancelled.booking, by_client=False)).event is None
    assert [(e.change, e.by) for e in seen] == [
        (Change.BOOKED, Actor.CLIENT),
        (Change.MOVED, Actor.CLIENT),
        (Change.STATUS, Actor.STAFF),
        (Change.CANCELLED, Actor.STAFF),
    ]
    assert [e.booking for e in seen] == [
        booked.booking,
        moved.booking,
        done.booking,
        cancelled.booking,
    ]
    log: dict[str, str] = await store.get_item("mlog") or {}
    assert sorted(log) == [f"m:{booked.booking.id}:{n}" for n in range(1, 5)]


async def test_a_staged_message_that_cannot_commit_takes_the_change_with_it(
    backend: Backend, clock: Clock
) -> None:
    def kv(namespace: str) -> KVStore:
        return KVStore(backend, namespace)

    async def stage(event: BookingEvent) -> Staged:  # a message id already used: never commits
        return Staged(writes={"m:same": "x"}, expect={"m:same": ABSENT})

    store = kv("bookings")
    await store.set_item("m:same", "taken")
    service = BookingService(store, await furnish(kv), clock=clock, stage=stage)
    with pytest.raises(Conflict):
        await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client()}))
    assert await service.day(DAY, ["r_ann"]) == []
    _, slots = await service.availability(MASSAGE.id, DAY)
    assert at(10) in starts(slots)


async def test_a_visit_is_reviewed_only_once_it_has_ended_and_was_marked_done(
    service: BookingService, backend: Backend, clock: Clock
) -> None:
    booked = await service.book(ask({"treatment": MASSAGE.id, "start": at(10), **client()}))
    clock.now = booked.booking.start + timedelta(minutes=10)
    done = (await service.set_status(booked.booking, Status.COMPLETED)).booking
    reviews = ReviewService(KVStore(backend, "reviews"), clock=clock)
    with pytest.raises(Conflict, match="once your visit has taken place"):
        await reviews.submit(done, "5", "Lovely so far")  # still on the couch
    clock.now = booked.booking.end
    assert (await reviews.submit(done, "5", "Lovely")).stars == 5


async def test_a_lost_slot_is_never_among_its_alternatives(service: BookingService) -> None:
    first = ask({"treatment": MASSAGE.id, "start": at(10), **client(1)})
    second = ask({"treatment": MASSAGE.id, "start": at(10), **client(2)})
    outcomes = await asyncio.gather(
        service.book(first), service.book(second), return_exceptions=True
    )
    lost = [o for o in outcomes if isinstance(o, SlotTaken)]
    assert len(lost) == 1
    assert at(10) not in starts(lost[0].alternatives)
    assert lost[0].alternatives  # other times that day, read after the loss
