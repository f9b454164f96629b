"""The durable outbox: messages written in the same atomic step as the change that causes them.

A message lives in the namespace of the change that made it (a confirmation beside its booking,
a password reset beside its account), so a booking's ``transact`` can write both at once, on
every backend: no booking without its confirmation, no confirmation for a booking that did not
happen. Keys, inside that namespace:

    m:<id>              the message: who to, what (typed data, rendered when sent), its state
    q:<YYYYMMDDHH>      the queue shard of one hour (UTC) of due times: message id -> due time
    qdays               the days that have shards: YYYYMMDD -> "" (what a worker reads first)
    mdead               messages that need a person: dead or held, id -> when made
    msent:<YYYYMMDD>    what was sent that day: id -> when (kept 31 days, for /admin/outbox)

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

import enum
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from parlour.storage.base import ABSENT, DELETE, JSON, KVStore

SENT_KEPT = 31 * 24 * 3600.0
"""How long a sent message and its day's log are kept, for people to look back on."""
MAX_BACKOFF = 3600.0
TAKE_AT_ONCE = 200
"""The most due messages one pass of a worker considers; the rest wait for the next pass."""


class State(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"
    """Given up: a 5xx answer, or every attempt failed. Staff may retry it."""
    HELD = "held"
    """Not sent because a rate limit refused it (a public form used to mail-bomb someone);
    kept for staff to send anyway or leave."""
    CANCELLED = "cancelled"
    """No longer wanted (the reminder of a cancelled booking)."""


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    kind: str
    to: tuple[str, ...]
    data: Mapping[str, JSON]
    """The typed message data (parlour.mail.messages), rendered when it is sent."""
    due: float
    """When to send, in seconds since the epoch (UTC)."""
    created: float
    limited: bool = False
    """Whether the mail rate limits apply: made by a public action someone could repeat."""
    state: State = State.PENDING
    attempts: int = 0
    error: str = ""
    lease_owner: str = ""
    lease_until: float = 0.0
    sent: float | None = None
    shard: str = field(default="")
    """The queue shard that holds it while pending."""

    @property
    def message_id(self) -> str:
        """Its stable RFC 5322 Message-ID (without the angle brackets' domain)."""
        return f"{self.id}.{int(self.created)}"

    def leased_by(self, owner: str, now: float) -> bool:
        return self.lease_owner == owner and self.lease_until > now


def message_to_json(message: Message) -> dict[str, Any]:
    data = asdict(message)
    data["to"] = list(message.to)
    data["state"] = message.state.value
    data["data"] = dict(message.data)
    return data


def message_from_json(data: Mapping[str, Any]) -> Message:
    return Message(**{**data, "to": tuple(data["to"]), "state": State(data["state"])})


def new_message(
    kind: str,
    to: Sequence[str],
    data: Mapping[str, JSON],
    *,
    now: float,
    due: float | None = None,
    limited: bool = False,
    message_id: str | None = None,
) -> Message:
    """A message to stage: due at once unless ``due`` says later."""
    return Message(
        id=message_id or f"m_{secrets.token_hex(10)}",
        kind=kind,
        to=tuple(to),
        data=data,
        # To the millisecond, as the queue shards write due times: the two always agree.
        due=round(now if due is None else due, 3),
        created=round(now, 3),
        limited=limited,
    )


@dataclass(frozen=True, slots=True)
class Staged:
    """What a change adds to its own ``transact`` so that its messages commit with it."""

    writes: dict[str, JSON] = field(default_factory=dict)
    merge: dict[str, dict[str, Any]] = field(default_factory=dict)
    expect: dict[str, JSON] = field(default_factory=dict)

    def __add__(self, other: Staged) -> Staged:
        merge = {key: dict(fields) for key, fields in self.merge.items()}
        for key, fields in other.merge.items():
            merge.setdefault(key, {}).update(fields)
        return Staged({**self.writes, **other.writes}, merge, {**self.expect, **other.expect})


def shard_of(due: float) -> str:
    return datetime.fromtimestamp(due, UTC).strftime("%Y%m%d%H")


def _shard_key(shard: str) -> str:
    return f"q:{shard}"


def _stamp(instant: float) -> str:
    return f"{instant:.3f}"


def backoff(attempts: int, base: float, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: ``base`` doubling each time, up to an hour,
    with full jitter in the upper half so that messages failed together spread out."""
    ceiling: float = min(MAX_BACKOFF, base * 2.0 ** max(0, attempts - 1))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


@dataclass(frozen=True, slots=True)
class Due:
    message_id: str
    due: float
    shard: str


@dataclass(frozen=True, slots=True)
class Scan:
    due: list[Due]
    """Due now and not sent, oldest first."""
    next_due: float
    """The earliest later time a worker must look again (the next due message or the next
    hour, whose shard it has not read)."""


class Outbox:
    """The messages of one namespace."""

    def __init__(self, store: KVStore) -> None:
        self.store = store

    @property
    def namespace(self) -> str:
        return self.store.namespace

    @staticmethod
    def is_queue_change(key: str) -> bool:
        """Whether a change event's key means a message may have become due (a worker wakes)."""
        return key.startswith("q:")

    # -- writing messages, inside the change's own transact -----------------------------------

    @staticmethod
    def stage(message: Message) -> Staged:
        """The writes and merges that put ``message`` in the outbox; add them to the transact
        of the change that causes it. The message must not exist yet."""
        shard = shard_of(message.due)
        record = replace(message, shard=shard, state=State.PENDING)
        return Staged(
            writes={f"m:{message.id}": message_to_json(record)},
            merge={
                _shard_key(shard): {message.id: _stamp(message.due)},
                "qdays": {shard[:8]: ""},
            },
            expect={f"m:{message.id}": ABSENT},
        )

    @staticmethod
    def stage_cancel(message_id: str, due: float) -> Staged:
        """Take a message that may exist, due at ``due``, off the queue for good (a cancelled
        booking's reminder). A worker sending it at this very moment may still send it."""
        return Staged(
            writes={f"m:{message_id}": DELETE},
            merge={_shard_key(shard_of(due)): {message_id: DELETE}},
        )

    async def enqueue(self, message: Message) -> Message:
        """Write one message on its own (no change of state goes with it)."""
        staged = self.stage(message)
        await self.store.transact(staged.writes, expect=staged.expect, merge=staged.merge)
        return replace(message, shard=shard_of(message.due))

    # -- reading ------------------------------------------------------------------------------

    async def get(self, message_id: str) -> Message | None:
        record = await self.store.get_item(f"m:{message_id[:80]}")
        return None if record is None else message_from_json(record)

    async def scan(self, now: float) -> Scan:
        """What is due at ``now``. Reads the directory and the shards of hours up to now."""
        current = shard_of(now)
        days = await self.store.get_item("qdays") or {}
        keys = [
            _shard_key(f"{day}{hour:02d}")
            for day in sorted(days)
            if day <= current[:8]
            for hour in range(24)
            if f"{day}{hour:02d}" <= current
        ]
        shards = await self.store.get_many(keys)
        due: list[Due] = []
        next_due = (
            datetime.strptime(current, "%Y%m%d%H").replace(tzinfo=UTC) + timedelta(hours=1)
        ).timestamp()
        for key, shard in shards.items():
            for message_id, stamp in shard.items():
                when = float(stamp)
                if when <= now:
                    due.append(Due(message_id, when, key.removeprefix("q:")))
                else:
                    next_due = min(next_due, when)
        due.sort(key=lambda d: d.due)
        return Scan(due, next_due)

    async def listing(self, now: float, limit: int = 100) -> dict[State, list[Message]]:
        """For /admin/outbox: pending (by due time, scheduled ones too), those that need a
        person (dead or held), and today's and yesterday's sent."""
        days = await self.store.get_item("qdays") or {}
        keys = [_shard_key(f"{day}{hour:02d}") for day in sorted(days) for hour in range(24)]
        pending = sorted(
            ((float(t), i) for shard in (await self.store.get_many(keys)).values()
             for i, t in shard.items()),
        )[:limit]  # fmt: skip
        attention = list(await self.store.get_item("mdead") or {})[:limit]
        today = datetime.fromtimestamp(now, UTC)
        logs = [f"msent:{(today - timedelta(days=n)).strftime('%Y%m%d')}" for n in (0, 1)]
        sent_ids = [i for log in (await self.store.get_many(logs)).values() for i in log]
        wanted = [i for _, i in pending] + attention + sent_ids[-limit:]
        records = await self.store.get_many([f"m:{i}" for i in dict.fromkeys(wanted)])
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
        key = f"m:{entry.message_id}"
        current = await self.store.get_item(key)
        if current is None:  # cancelled: its entry in the shard is a stray
            await self.store.transact(
                {}, merge={_shard_key(entry.shard): {entry.message_id: DELETE}}
            )
            return None
        message = message_from_json(current)
        if message.state is not State.PENDING or message.due > now or message.lease_until > now:
            return message
        leased = replace(message, lease_owner=owner, lease_until=now + seconds)
        if await self.store.transact({key: message_to_json(leased)}, expect={key: current}):
            return leased
        return None  # another worker got in between: it holds it now

    async def mark_sent(self, leased: Message, now: float) -> Message:
        """Record that the server accepted ``leased``: sent, off the queue, in the day's log."""
        day = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")
        sent = replace(leased, state=State.SENT, sent=now, lease_owner="", lease_until=0.0)
        merge: dict[str, dict[str, Any]] = {
            _shard_key(leased.shard): {leased.id: DELETE},
            f"msent:{day}": {leased.id: _stamp(now)},
        }
        ttl = {f"m:{leased.id}": SENT_KEPT, f"msent:{day}": SENT_KEPT}
        return await self._finish(leased, sent, merge, ttl)

    async def retry_later(
        self, leased: Message, reason: str, due: float, *, count: bool = True
    ) -> Message:
        """Back on the queue for ``due``; ``count``: as a failed attempt."""
        shard = shard_of(due)
        again = replace(
            leased,
            attempts=leased.attempts + count,
            error=reason,
            due=due,
            shard=shard,
            lease_owner="",
            lease_until=0.0,
        )
        merge: dict[str, dict[str, Any]] = {_shard_key(leased.shard): {leased.id: DELETE}}
        merge.setdefault(_shard_key(shard), {})[leased.id] = _stamp(due)
        merge["qdays"] = {shard[:8]: ""}
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
            _shard_key(leased.shard): {leased.id: DELETE},
            "mdead": {leased.id: _stamp(leased.created)},
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
        key = f"m:{leased.id}"
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
        key = f"m:{message_id[:80]}"
        current = await self.store.get_item(key)
        if current is None:
            return None
        message = message_from_json(current)
        if message.state not in (State.DEAD, State.HELD):
            return None
        shard = shard_of(now)
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
            _shard_key(shard): {message.id: _stamp(now)},
            "qdays": {shard[:8]: ""},
            "mdead": {message.id: DELETE},
        }
        ok = await self.store.transact(
            {key: message_to_json(again)}, expect={key: current}, merge=merge
        )
        return again if ok else None

    async def tidy(self, now: float) -> None:
        """Remove emptied shards of past hours and days without shards from the directory.

        Each removal expects the shard still empty, so a message merged into it meanwhile is
        never lost: the removal fails and is tried again another time."""
        current = shard_of(now)
        days = await self.store.get_item("qdays") or {}
        for day in sorted(days):
            if day > current[:8]:
                break
            keys = [_shard_key(f"{day}{hour:02d}") for hour in range(24)]
            shards = await self.store.get_many(keys)
            empty = [key for key, shard in shards.items() if not shard and key[2:] < current]
            if day < current[:8] and len(empty) == len(shards):
                expect: dict[str, JSON] = {key: shards.get(key, ABSENT) for key in keys}
                writes: dict[str, JSON] = dict.fromkeys(empty, DELETE)
                await self.store.transact(writes, expect=expect, merge={"qdays": {day: DELETE}})
            elif empty:
                await self.store.transact(
                    dict.fromkeys(empty, DELETE), expect={key: {} for key in empty}
                )
