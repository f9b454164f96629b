"""The durable outbox on every backend: messages commit with the change that makes them, one
worker at a time holds one, and nothing pending is ever lost from the queue."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from parlour.services.outbox.keys import QUEUE_DAYS, is_queue, message_key, queue_key
from parlour.services.outbox.queue import shard_of
from parlour.services.outbox.records import State, backoff, new_message
from parlour.services.outbox.store import Outbox
from parlour.storage import Backend, KVStore
from parlour.storage.base import ABSENT

T = TypeVar("T")
NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
HOUR = 3600.0


@pytest.fixture
def outbox(data_backend: Backend) -> Outbox:
    return Outbox(KVStore(data_backend, "bookings"))


async def test_a_message_commits_with_its_change_or_not_at_all(outbox: Outbox) -> None:
    message = new_message("confirmation", ["a@example.com"], {"booking": "b1"}, now=NOW)
    staged = Outbox.stage(message)
    store = outbox.store
    await store.set_item("u:unit", "someone else")
    # The change's own expectation fails: neither the change nor its message happens.
    assert not await store.transact(
        {"b:b1": {"id": "b1"}, "u:unit": "b1", **staged.writes},
        expect={"u:unit": ABSENT, **staged.expect},
        merge=staged.merge,
    )
    assert await outbox.get(message.id) is None
    assert (await outbox.scan(NOW)).due == []
    await store.remove_item("u:unit")
    assert await store.transact(
        {"b:b1": {"id": "b1"}, "u:unit": "b1", **staged.writes},
        expect={"u:unit": ABSENT, **staged.expect},
        merge=staged.merge,
    )
    assert [d.message_id for d in (await outbox.scan(NOW)).due] == [message.id]


async def test_due_now_is_offered_and_later_waits(outbox: Outbox) -> None:
    soon = await outbox.enqueue(new_message("test", ["a@x.org"], {}, now=NOW, due=NOW + 90))
    later = await outbox.enqueue(new_message("test", ["a@x.org"], {}, now=NOW, due=NOW + 5 * HOUR))
    now = await outbox.enqueue(new_message("test", ["a@x.org"], {}, now=NOW))
    scan = await outbox.scan(NOW)
    assert [d.message_id for d in scan.due] == [now.id]
    assert scan.next_due == NOW + 90
    assert {d.message_id for d in (await outbox.scan(NOW + 5 * HOUR)).due} == {
        now.id,
        soon.id,
        later.id,
    }


async def test_one_worker_at_a_time_and_an_expired_lease_is_taken_over(outbox: Outbox) -> None:
    message = await outbox.enqueue(new_message("test", ["a@x.org"], {}, now=NOW))
    (entry,) = (await outbox.scan(NOW)).due
    leases = await asyncio.gather(*(outbox.lease(entry, f"worker-{n}", NOW, 60) for n in range(10)))
    # Each caller got the message as it won it, as another holds it, or None (lost the race).
    holders = [lease for lease in leases if lease is not None]
    assert len({holder.lease_owner for holder in holders}) == 1
    refused = await outbox.lease(entry, "late", NOW + 59, 60)
    assert refused is not None
    assert not refused.leased_by("late", NOW + 59)
    assert refused.lease_until == holders[0].lease_until
    taken = await outbox.lease(entry, "late", NOW + 61, 60)
    assert taken is not None
    assert taken.lease_owner == "late"
    # The first holder finishes after all: what it did (a send) is recorded, once.
    sent = await outbox.mark_sent(holders[0], NOW + 62)
    assert sent.state is State.SENT
    assert (await outbox.get(message.id)).state is State.SENT  # type: ignore[union-attr]
    assert (await outbox.scan(NOW + 100)).due == []
    # The second finishes later: a message already sent stays sent.
    again = await outbox.retry_later(taken, "451", NOW + 200)
    assert again.state is State.SENT


async def test_retries_move_between_shards_and_dead_ones_wait_for_staff(outbox: Outbox) -> None:
    message = await outbox.enqueue(new_message("test", ["a@x.org"], {}, now=NOW))
    (entry,) = (await outbox.scan(NOW)).due
    leased = await outbox.lease(entry, "w", NOW, 60)
    assert leased is not None
    later = NOW + 2 * HOUR
    retried = await outbox.retry_later(leased, "451 try later", later)
    assert (retried.attempts, retried.shard) == (1, shard_of(later, message.id))
    assert (await outbox.scan(NOW + HOUR)).due == []
    (entry,) = (await outbox.scan(later)).due
    leased = await outbox.lease(entry, "w", later, 60)
    assert leased is not None
    dead = await outbox.set_aside(leased, State.DEAD, "554 rejected")
    assert dead.state is State.DEAD
    assert (await outbox.scan(later + HOUR)).due == []
    listed = await outbox.listing(later)
    assert [m.id for m in listed[State.DEAD]] == [message.id]
    assert listed[State.DEAD][0].error == "554 rejected"
    retried_by_staff = await outbox.retry(message.id, later + 10)
    assert retried_by_staff is not None
    assert retried_by_staff.attempts == 0
    assert [d.message_id for d in (await outbox.scan(later + 10)).due] == [message.id]
    assert (await outbox.listing(later + 10))[State.DEAD] == []
    assert await outbox.retry(message.id, later + 11) is None  # pending: nothing to retry


async def test_a_cancelled_message_is_never_offered(outbox: Outbox) -> None:
    reminder = new_message("reminder", ["a@x.org"], {}, now=NOW, due=NOW + HOUR, message_id="r_b1")
    await outbox.enqueue(reminder)
    cancel = Outbox.stage_cancel("r_b1", reminder.due)
    await outbox.store.transact(cancel.writes, merge=cancel.merge)
    assert (await outbox.scan(NOW + 2 * HOUR)).due == []
    assert await outbox.get("r_b1") is None


async def test_a_stray_entry_is_dropped_when_met(outbox: Outbox) -> None:
    reminder = await outbox.enqueue(new_message("reminder", ["a@x.org"], {}, now=NOW))
    # as a cancel computed on another shard
    await outbox.store.remove_item(message_key(reminder.id))
    (entry,) = (await outbox.scan(NOW)).due
    assert await outbox.lease(entry, "w", NOW, 60) is None
    assert (await outbox.scan(NOW)).due == []


async def test_tidying_never_loses_a_message_merged_meanwhile(outbox: Outbox) -> None:
    old = await outbox.enqueue(new_message("test", ["a@x.org"], {}, now=NOW))
    (entry,) = (await outbox.scan(NOW)).due
    leased = await outbox.lease(entry, "w", NOW, 60)
    assert leased is not None
    await outbox.mark_sent(leased, NOW)
    tomorrow = NOW + 30 * HOUR
    # A message due in the emptied hour arrives while the tidy runs (a clock behind).
    late = new_message("test", ["b@x.org"], {}, now=NOW, due=old.due)
    await asyncio.gather(outbox.tidy(tomorrow), outbox.enqueue(late))
    await outbox.tidy(tomorrow)
    assert [d.message_id for d in (await outbox.scan(tomorrow)).due] == [late.id]
    (entry,) = (await outbox.scan(tomorrow)).due
    leased = await outbox.lease(entry, "w", tomorrow, 60)
    assert leased is not None
    await outbox.mark_sent(leased, tomorrow)
    await outbox.tidy(tomorrow)
    assert await outbox.store.get_item(QUEUE_DAYS) == {}
    assert await outbox.store.get_item(queue_key(shard_of(NOW, old.id))) is None
    assert await outbox.store.get_item(queue_key(shard_of(NOW, late.id))) is None


def test_backoff_doubles_with_jitter_up_to_an_hour() -> None:
    rng = random.Random(7)
    waits = [backoff(n, 30, rng) for n in range(1, 12)]
    for n, wait in enumerate(waits, start=1):
        ceiling = min(3600, 30 * 2 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert len({round(w, 6) for w in waits}) == len(waits)


class OutboxModel(RuleBasedStateMachine):
    """Messages made, leased by several workers, sent, failed, cancelled and tidied, with the
    clock moving on: the store agrees with a plain model of what is pending."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.now = NOW
        self.pending: dict[str, float] = {}
        self.done: set[str] = set()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    @initialize()
    def open_store(self) -> None:
        from parlour.storage.memory import MemoryBackend

        self.backend = MemoryBackend()
        self.outbox = Outbox(KVStore(self.backend, "bookings"))

    @rule(delay=st.sampled_from([0.0, 30.0, HOUR, 26 * HOUR]))
    def make(self, delay: float) -> None:
        message = new_message("t", ["a@x.org"], {}, now=self.now, due=self.now + delay)
        self.run(self.outbox.enqueue(message))
        self.pending[message.id] = message.due

    @rule(step=st.sampled_from([1.0, 59.0, 61.0, HOUR, 25 * HOUR]))
    def wait(self, step: float) -> None:
        self.now += step

    @rule(worker=st.sampled_from(["w1", "w2"]), outcome=st.sampled_from(["sent", "retry", "dead"]))
    def work(self, worker: str, outcome: str) -> None:
        scan = self.run(self.outbox.scan(self.now))
        for entry in scan.due[:3]:
            leased = self.run(self.outbox.lease(entry, worker, self.now, 60))
            if leased is None or not leased.leased_by(worker, self.now):
                continue
            if outcome == "sent":
                self.run(self.outbox.mark_sent(leased, self.now))
                self.done.add(entry.message_id)
                self.pending.pop(entry.message_id)
            elif outcome == "retry":
                self.run(self.outbox.retry_later(leased, "451", self.now + 120))
                self.pending[entry.message_id] = self.now + 120
            else:
                self.run(self.outbox.set_aside(leased, State.DEAD, "554"))
                self.done.add(entry.message_id)
                self.pending.pop(entry.message_id)

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        if not self.pending:
            return
        # An index, not the ids themselves: they are random, and hypothesis must be able to
        # replay the same draws.
        message_id = list(self.pending)[data.draw(st.integers(0, len(self.pending) - 1))]
        staged = Outbox.stage_cancel(message_id, self.pending.pop(message_id))
        self.run(self.outbox.store.transact(staged.writes, merge=staged.merge))
        self.done.add(message_id)

    @rule()
    def tidy(self) -> None:
        self.run(self.outbox.tidy(self.now))

    @invariant()
    def the_queue_offers_exactly_what_is_due(self) -> None:
        if not hasattr(self, "outbox"):
            return
        scan = self.run(self.outbox.scan(self.now))
        offered = {d.message_id for d in scan.due}
        expected = {i for i, due in self.pending.items() if due <= self.now}
        assert offered == expected
        later = [due for due in self.pending.values() if due > self.now]
        if later:
            assert scan.next_due <= min(later)

    def teardown(self) -> None:
        self.loop.close()


TestOutboxModel = OutboxModel.TestCase
TestOutboxModel.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip


async def test_a_burst_due_in_one_hour_spreads_over_small_shards(outbox: Outbox) -> None:
    """A merge rewrites its whole document, so no shard may hold a whole hour's burst."""
    gate = asyncio.Semaphore(8)

    async def one(n: int) -> None:
        async with gate:
            await outbox.enqueue(new_message("t", [f"c{n}@x.org"], {}, now=NOW))

    await asyncio.gather(*(one(n) for n in range(200)))
    assert len((await outbox.scan(NOW)).due) == 200
    shards = [v async for k, v in outbox.store.items() if is_queue(k)]
    assert sum(len(shard) for shard in shards) == 200
    assert max(len(shard) for shard in shards) < 40


@given(now=st.floats(min_value=1e9, max_value=4e9))
def test_a_message_made_now_is_due_now(now: float) -> None:
    """Rounding the due time up made a message just written invisible to a pass at the same
    instant (found by /admin/outbox's test, one run in a few)."""
    message = new_message("t", ["a@x.org"], {}, now=now)
    assert message.due <= now
    assert message.created <= now


@given(st.floats(min_value=-2_208_988_800, max_value=32_503_680_000, allow_nan=False))
def test_a_shard_is_named_by_its_utc_hour_from_1900_to_3000(instant: float) -> None:
    # shard_of writes the hour field by field (strftime was a measurable part of staging).
    hour = datetime.fromtimestamp(instant, UTC).strftime("%Y%m%d%H")
    assert shard_of(instant, "m_1").startswith(hour)
    assert len(shard_of(instant, "m_1")) == len(hour) + 1
