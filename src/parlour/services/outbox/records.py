"""An outbox message as it is stored (its place in the queue: services.outbox.store)."""

from __future__ import annotations

import enum
import math
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from parlour.storage.base import JSON

MAX_BACKOFF = 3600.0


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
    """The typed message data (services.notices.messages), rendered when it is sent."""
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


_MESSAGE_FIELDS = tuple(f.name for f in fields(Message))


def message_to_json(message: Message) -> dict[str, Any]:
    data = {name: getattr(message, name) for name in _MESSAGE_FIELDS}  # flat: no deep copy
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
        due=_millisecond(now if due is None else due),
        created=_millisecond(now),
        limited=limited,
    )


def _millisecond(instant: float) -> float:
    """Down, never up: a message made "now" must be due now, not a fraction of a millisecond
    from now (a pass at ``now`` would skip it)."""
    return math.floor(instant * 1000) / 1000


def backoff(attempts: int, base: float, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: ``base`` doubling each time, up to an hour,
    with full jitter in the upper half so that messages failed together spread out."""
    ceiling: float = min(MAX_BACKOFF, base * 2.0 ** max(0, attempts - 1))
    return ceiling * (0.5 + 0.5 * (rng or random).random())
