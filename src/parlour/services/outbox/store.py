"""The durable outbox: messages written in the same atomic step as the change that causes them.

A message lives in the namespace of the change that made it (a confirmation beside its booking,
a password reset beside its account), so a booking's ``transact`` can write both at once, on
every backend: no booking without its confirmation, no confirmation for a booking that did not
happen. Its keys inside that namespace are laid out in :mod:`services.outbox.keys`.

The shards and indexes are merged (``transact(merge=...)``): a booking adds its field without
reading the shard first, so bookings never conflict with each other or with the worker over the
queue; only claims on the message itself (``m:<id>``, compared and set) decide who sends it.
Sharding by due hour keeps each merged document small: it holds the messages due in one hour
that are not sent yet.

A message is taken under a lease (its record compared and set with the worker's name and an
expiry), sent, then marked sent in one step that also takes it off its shard. A lease that
expires (its worker died) is taken over by the next worker that looks.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from parlour.services.outbox.keys import (
    ATTENTION,
    QUEUE_DAYS,
    day_of_hours_key,
    hours_key,
    is_queue,
    message_key,
    queue_key,
    sent_key,
    shard_of_key,
)
from parlour.services.outbox.queue import (
    BUCKETS,
    Due,
    Scan,
    bucket_of,
    directory_merges,
    due_stamp,
    hour_of,
    shard_of,
    shards_of_hour,
)
from parlour.services.outbox.records import Message, State, message_from_json, message_to_json
from parlour.services.staged import Staged
from parlour.storage.base import ABSENT, DELETE, JSON, KVStore, split_namespace

SENT_KEPT = 31 * 24 * 3600.0
"""How long a sent message and its day's log are kept, for people to look back on."""
TAKE_AT_ONCE = 200
"""The most due messages one pass of a worker considers; the rest wait for the next pass."""


class Outbox:
    """The messages of one namespace."""

    def __init__(self, store: KVStore) -> None:
        self.store = store

    @property
    def namespace(self) -> str:
        """The kind of record its messages live beside (``bookings``, ``users``), whichever
        salon's they are: what staff pages and logs name."""
        return split_namespace(self.store.namespace)[0]

    @staticmethod
    def is_queue_change(key: str) -> bool:
        """Whether a change event's key means a message may have become due (a worker wakes)."""
        return is_queue(key)

    # -- writing messages, inside the change's own transact -----------------------------------

    @staticmethod
    def stage(message: Message) -> Staged:
        """The writes and merges that put ``message`` in the outbox; add them to the transact
        of the change that causes it. The message must not exist yet."""
        shard = shard_of(message.due, message.id)
        record = replace(message, shard=shard, state=State.PENDING)
        return Staged(
            writes={message_key(message.id): message_to_json(record)},
            merge={
                queue_key(shard): {message.id: due_stamp(message.due)},
                **directory_merges(shard),
            },
            expect={message_key(message.id): ABSENT},
        )

    @staticmethod
    def stage_replace(message: Message) -> Staged:
        """As :meth:`stage`, for a message that may already be waiting under the same id and
        due time (a reminder whose booking changed therapist or client, not time): its record is
        written anew, so it goes once, saying what is true now. Only for a message not yet due:
        one already due may be on its way."""
        staged = Outbox.stage(message)
        return Staged(writes=staged.writes, merge=staged.merge)

    @staticmethod
    def stage_cancel(message_id: str, due: float) -> Staged:
        """Take a message that may exist, due at ``due``, off the queue for good (a cancelled
        booking's reminder). A worker sending it at this very moment may still send it."""
        return Staged(
            writes={message_key(message_id): DELETE},
            merge={queue_key(shard_of(due, message_id)): {message_id: DELETE}},
        )

    async def enqueue(self, message: Message) -> Message:
        """Write one message on its own (no change of state goes with it)."""
        staged = self.stage(message)
        await self.store.transact(staged.writes, expect=staged.expect, merge=staged.merge)
        return replace(message, shard=shard_of(message.due, message.id))

    # -- reading ------------------------------------------------------------------------------

    async def get(self, message_id: str) -> Message | None:
        record = await self.store.get_item(message_key(message_id[:80]))
        return None if record is None else message_from_json(record)

    async def scan(self, now: float) -> Scan:
        """What is due at ``now``. Reads the directory and the shards of hours up to now."""
        current = hour_of(now)
        keys = [key for hour in await self._hours(up_to=current) for key in shards_of_hour(hour)]
        shards = await self.store.get_many(keys)
        due: list[Due] = []
        next_due = (
            datetime.strptime(current, "%Y%m%d%H").replace(tzinfo=UTC) + timedelta(hours=1)
        ).timestamp()
        for key, shard in shards.items():
            for message_id, stamp in shard.items():
                when = float(stamp)
                if when <= now:
                    due.append(Due(message_id, when, shard_of_key(key)))
                else:
                    next_due = min(next_due, when)
        due.sort(key=lambda d: d.due)
        return Scan(due, next_due)

    async def _hours(self, up_to: str) -> list[str]:
        """The hours (``YYYYMMDDHH``) up to ``up_to`` that have shards, from the directory."""
        days = [day for day in sorted(await self.store.get_item(QUEUE_DAYS) or {}) if day <= up_to]
        listed = await self.store.get_many([hours_key(day) for day in days])
        hours = [f"{day_of_hours_key(key)}{hour}" for key, doc in listed.items() for hour in doc]
        return sorted(hour for hour in hours if hour <= up_to)

    async def listing(self, now: float, limit: int = 100) -> dict[State, list[Message]]:
        """For /admin/outbox: pending (by due time, scheduled ones too), those that need a
        person (dead or held), and today's and yesterday's sent."""
        soon = hour_of(now + 7 * 86400)  # further ahead: scheduled, not listed
        keys = [key for hour in await self._hours(up_to=soon) for key in shards_of_hour(hour)]
        pending = sorted(
            ((float(t), i) for shard in (await self.store.get_many(keys)).values()
             for i, t in shard.items()),
        )[:limit]  # fmt: skip
        attention = list(await self.store.get_item(ATTENTION) or {})[:limit]
        logs = [
            sent_key(f"{hour_of(now - hours * 3600)}{bucket:x}")
            for hours in range(24)
            for bucket in range(BUCKETS)
        ]
        sent_ids = [i for log in (await self.store.get_many(logs)).values() for i in log]
        wanted = [i for _, i in pending] + attention + sent_ids[-limit:]
        records = await self.store.get_many([message_key(i) for i in dict.fromkeys(wanted)])
        messages = [message_from_json(record) for record in records.values()]
        listed: dict[State, list[Message]] = {state: [] for state in State}
        for message in messages:
            listed[message.state].append(message)
        listed[State.PENDING].sort(key=lambda m: m.due)
        listed[State.SENT].sort(key=lambda m: m.sent or 0, reverse=True)
        return listed

    # -- a worker's side ----------------------------------------------------------------------

    async def lease(self, entry: Due, owner: str, now: float, seconds: float) -> Message | None:
        """Take a due, pending message for ``seconds`` unless another worker holds it.

        Returns the message as leased by ``owner`` (check with :meth:`Message.leased_by`), or
        as it is when it cannot be taken (another worker's lease, not due, finished), or
        ``None`` when it is gone."""
        key = message_key(entry.message_id)
        current = await self.store.get_item(key)
        if current is None:  # cancelled: its entry in the shard is a stray
            await self.store.transact(
                {}, merge={queue_key(entry.shard): {entry.message_id: DELETE}}
            )
            return None
        message = message_from_json(current)
        if message.state is not State.PENDING or message.due > now or message.lease_until > now:
            return message
        leased = replace(message, lease_owner=owner, lease_until=now + seconds)
        if await self.store.transact({key: message_to_json(leased)}, expect={key: current}):
            return leased
        return None  # another worker got in between: it holds it now

    async def renew(self, leased: Message, now: float, seconds: float) -> Message | None:
        """Hold ``leased`` for ``seconds`` more (its send is still under way), or ``None`` if
        the record is no longer as this worker left it (cancelled, or taken over)."""
        key = message_key(leased.id)
        longer = replace(leased, lease_until=max(leased.lease_until, now + seconds))
        if await self.store.transact(
            {key: message_to_json(longer)}, expect={key: message_to_json(leased)}
        ):
            return longer
        return None

    async def mark_sent(self, leased: Message, now: float) -> Message:
        """Record that the server accepted ``leased``: sent, off the queue, in the day's log."""
        log = sent_key(f"{hour_of(now)}{bucket_of(leased.id)}")
        sent = replace(leased, state=State.SENT, sent=now, lease_owner="", lease_until=0.0)
        merge: dict[str, dict[str, Any]] = {
            queue_key(leased.shard): {leased.id: DELETE},
            log: {leased.id: due_stamp(now)},
        }
        ttl = {message_key(leased.id): SENT_KEPT, log: SENT_KEPT}
        return await self._finish(leased, sent, merge, ttl)

    async def retry_later(
        self, leased: Message, reason: str, due: float, *, count: bool = True
    ) -> Message:
        """Back on the queue for ``due``; ``count``: as a failed attempt."""
        shard = shard_of(due, leased.id)
        again = replace(
            leased,
            attempts=leased.attempts + count,
            error=reason,
            due=due,
            shard=shard,
            lease_owner="",
            lease_until=0.0,
        )
        merge: dict[str, dict[str, Any]] = {queue_key(leased.shard): {leased.id: DELETE}}
        merge.setdefault(queue_key(shard), {})[leased.id] = due_stamp(due)
        merge |= directory_merges(shard)
        return await self._finish(leased, again, merge, {})

    async def set_aside(self, leased: Message, state: State, reason: str) -> Message:
        """Dead (given up) or held (a rate limit refused it): off the queue, listed for staff."""
        aside = replace(
            leased,
            state=state,
            error=reason,
            attempts=leased.attempts + (state is State.DEAD),
            lease_owner="",
            lease_until=0.0,
        )
        merge: dict[str, dict[str, Any]] = {
            queue_key(leased.shard): {leased.id: DELETE},
            ATTENTION: {leased.id: due_stamp(leased.created)},
        }
        return await self._finish(leased, aside, merge, {})

    async def _finish(
        self,
        leased: Message,
        outcome: Message,
        merge: dict[str, dict[str, Any]],
        ttl: dict[str, float],
    ) -> Message:
        """Write what happened to a message this worker leased. If the record changed since
        (the lease ran out and another worker took it over, or staff cancelled it), what this
        worker did still happened: a send is recorded over a pending record, but never over
        one that is already finished."""
        key = message_key(leased.id)
        expected: Any = message_to_json(leased)
        for _ in range(8):
            if await self.store.transact(
                {key: message_to_json(outcome)}, expect={key: expected}, merge=merge, ttl=ttl
            ):
                return outcome
            current = await self.store.get_item(key)
            if current is None or message_from_json(current).state is not State.PENDING:
                return outcome if current is None else message_from_json(current)
            expected = current
        return outcome

    # -- staff --------------------------------------------------------------------------------

    async def retry(self, message_id: str, now: float) -> Message | None:
        """Send a dead or held message again, from its first attempt (held: past the limit,
        since a person chose to). ``None`` if it is not dead or held."""
        key = message_key(message_id[:80])
        current = await self.store.get_item(key)
        if current is None:
            return None
        message = message_from_json(current)
        if message.state not in (State.DEAD, State.HELD):
            return None
        shard = shard_of(now, message.id)
        again = replace(
            message,
            state=State.PENDING,
            due=now,
            attempts=0,
            shard=shard,
            limited=False,
            error=f"retried by staff after: {message.error}",
        )
        merge: dict[str, dict[str, Any]] = {
            queue_key(shard): {message.id: due_stamp(now)},
            **directory_merges(shard),
            ATTENTION: {message.id: DELETE},
        }
        ok = await self.store.transact(
            {key: message_to_json(again)}, expect={key: current}, merge=merge
        )
        return again if ok else None

    async def tidy(self, now: float) -> None:
        """Remove emptied shards of past hours, then past hours and days from the directory.

        Each removal expects what it removes still empty, so a message merged in meanwhile is
        never lost: the removal fails and is tried again another time."""
        current = hour_of(now)
        for hour in await self._hours(up_to=current):
            if hour >= current:
                continue
            keys = shards_of_hour(hour)
            shards = await self.store.get_many(keys)
            if any(shards.values()):
                continue
            expect: dict[str, JSON] = {key: shards.get(key, ABSENT) for key in keys}
            await self.store.transact(
                dict.fromkeys(shards, DELETE),
                expect=expect,
                merge={hours_key(hour[:8]): {hour[8:]: DELETE}},
            )
        days = await self.store.get_item(QUEUE_DAYS) or {}
        for day in sorted(days):
            if day >= current[:8]:
                break
            key = hours_key(day)
            hours = await self.store.get_item(key)
            if not hours:
                await self.store.transact(
                    {key: DELETE} if hours is not None else {},
                    expect={key: ABSENT if hours is None else {}},
                    merge={QUEUE_DAYS: {day: DELETE}},
                )
