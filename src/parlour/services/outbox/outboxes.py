"""Every namespace's outbox together: what the workers deliver from and staff look at."""

from __future__ import annotations

from collections.abc import Callable

from parlour.errors import NotFound
from parlour.services.outbox.records import Message, State
from parlour.services.outbox.store import Outbox
from parlour.storage.base import KVStore

OUTBOX_NAMESPACES = ("bookings", "users")
"""Namespaces whose changes send messages (bookings: their notices; users: password resets)."""


class Outboxes:
    def __init__(self, kv: Callable[[str], KVStore]) -> None:
        self.all = tuple(Outbox(kv(namespace)) for namespace in OUTBOX_NAMESPACES)

    def of(self, namespace: str) -> Outbox:
        for outbox in self.all:
            if outbox.namespace == namespace:
                return outbox
        raise NotFound(f"There is no outbox {namespace!r}.")

    async def listing(self, now: float) -> dict[State, list[tuple[str, Message]]]:
        """Every outbox's messages by state, each with the namespace it lives in."""
        listed: dict[State, list[tuple[str, Message]]] = {state: [] for state in State}
        for outbox in self.all:
            for state, messages in (await outbox.listing(now)).items():
                listed[state] += [(outbox.namespace, message) for message in messages]
        listed[State.PENDING].sort(key=lambda pair: pair[1].due)
        listed[State.SENT].sort(key=lambda pair: pair[1].sent or 0, reverse=True)
        return listed

    async def find(self, namespace: str, message_id: str) -> Message:
        message = await self.of(namespace).get(message_id)
        if message is None:
            raise NotFound("There is no such message.")
        return message
