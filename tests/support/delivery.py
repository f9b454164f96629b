"""The delivery worker's test parts: a clock a test moves, a worker on a real SMTP server with
short timeouts, probe messages, and the conditions tests wait on (tests/mail/)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from parlour.mail.delivery import DeliveryWorker, Retries
from parlour.mail.render import Renderer
from parlour.mail.transport import FINAL_REPLY_WAIT, SmtpAddress, SmtpTransport
from parlour.services.catalogue import Business
from parlour.services.notices.messages import ProbeMessage, to_json
from parlour.services.outbox.records import Message, State, new_message
from parlour.services.outbox.relay import RelayFeatures
from parlour.services.outbox.store import Outbox
from parlour.services.ratelimit import Limiter
from parlour.services.sealing import Sealer

from support.smtp_server import SmtpServer

SEALER = Sealer(b"s" * 48)
SENDER = "Salon <s@salon.example>"


class Clock:
    """Wall-clock time that a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def transport(
    server: SmtpServer,
    timeout: float = 1.0,
    *,
    relay: RelayFeatures | None = None,
    final_reply_wait: float = FINAL_REPLY_WAIT,
) -> SmtpTransport:
    return SmtpTransport(
        SmtpAddress.parse(server.url),
        SENDER,
        timeout=timeout,
        relay=relay,
        final_reply_wait=final_reply_wait,
    )


def worker(
    outbox: Outbox | Sequence[Outbox],
    server: SmtpServer | None,
    clock: Clock,
    *,
    lanes: int = 1,
    attempts: int = 5,
    base: float = 0.05,
    limiter: Limiter | None = None,
    name: str | None = None,
    timeout: float = 1.0,
    final_reply_wait: float = FINAL_REPLY_WAIT,
) -> DeliveryWorker:
    relay = RelayFeatures()
    return DeliveryWorker(
        [outbox] if isinstance(outbox, Outbox) else list(outbox),
        Renderer(SENDER, SEALER.unseal),
        [
            transport(server, timeout, relay=relay, final_reply_wait=final_reply_wait)
            for _ in range(lanes)
        ]
        if server
        else [],
        retries=Retries(max_attempts=attempts, base=base),
        limiter=limiter,
        clock=clock,
        name=name,
    )


@asynccontextmanager
async def working(*workers: DeliveryWorker) -> AsyncIterator[None]:
    for each in workers:
        each.start()
    try:
        yield
    finally:
        for each in workers:
            await each.stop()


def probe(clock: Clock, to: str = "client@example.com", **options: object) -> Message:
    data = to_json(ProbeMessage(Business(name="Willow", phone="01225 000111"), "a test"))
    return new_message("test", [to], data, now=clock(), **options)  # type: ignore[arg-type]


def ids(server: SmtpServer) -> list[str]:
    return [received.message_id for received in server.received]


async def state_is(outbox: Outbox, message_id: str, *states: State) -> bool:
    message = await outbox.get(message_id)
    return message is not None and message.state in states


async def all_sent(outbox: Outbox, messages: list[Message]) -> bool:
    for message in messages:
        if not await state_is(outbox, message.id, State.SENT):
            return False
    return True
