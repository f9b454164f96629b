"""The mail limits count what the server accepted, not what was tried (issue 21, item 1).

A place is reserved before a send, so two workers cannot both take the last one, and given back
when the send fails: a confirmation whose attempts failed for the server's fault (a 4xx to RCPT,
a refused connection) is sent once the server is back, never held as if someone were bombing
the address."""

from __future__ import annotations

import asyncio

from parlour.services.outbox.records import State
from parlour.services.outbox.store import Outbox
from parlour.services.ratelimit import Identity, Limiter
from parlour.storage import KVStore
from parlour.storage.base import salon_namespace
from parlour.storage.memory import MemoryBackend

from support.delivery import Clock, probe, state_is, worker, working
from support.smtp_server import SmtpServer
from support.waiting import eventually, until

CLIENT = "client@example.com"
EVERYONE = Identity("all", "mail")


async def places_left(limiter: Limiter) -> tuple[int, int]:
    """What the client's address and the global ceiling have left this hour."""
    mine = await limiter.peek("mail_recipient", Identity.email(CLIENT))
    everyone = await limiter.peek("mail_global", EVERYONE)
    return mine.remaining, everyone.remaining


async def test_a_4xx_to_rcpt_spends_no_place_and_the_message_goes_when_the_server_recovers(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock, limiter: Limiter
) -> None:
    smtp_server.answer_recipients("451 4.3.0 Try again later")
    postman = worker(memory_outbox, smtp_server, clock, limiter=limiter, attempts=50)
    async with working(postman):
        message = await memory_outbox.enqueue(probe(clock, CLIENT, limited=True))
        # More failed attempts than the address has places in its hour.
        await until(lambda: postman.stats.retried >= 4, what="four failed attempts")
        smtp_server.answer_recipients(None)
        await eventually(
            lambda: state_is(memory_outbox, message.id, State.SENT, State.HELD), what="an outcome"
        )
    stored = await memory_outbox.get(message.id)
    assert stored is not None
    assert stored.state is State.SENT, stored.error
    assert len(smtp_server.received) == 1
    assert postman.stats.held == 0
    assert await places_left(limiter) == (2, 4)  # one message sent: one place each


async def test_a_refused_connection_spends_no_place(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock, limiter: Limiter
) -> None:
    smtp_server.stop()
    postman = worker(memory_outbox, smtp_server, clock, limiter=limiter, attempts=50)
    async with working(postman):
        message = await memory_outbox.enqueue(probe(clock, CLIENT, limited=True))
        await until(lambda: postman.stats.retried >= 1, what="a failed attempt")
        assert await places_left(limiter) == (3, 5)
        smtp_server.start()
        await eventually(
            lambda: state_is(memory_outbox, message.id, State.SENT),
            timeout=20,
            what="sent once the server is back",
        )
    assert len(smtp_server.received) == 1
    assert await places_left(limiter) == (2, 4)


async def test_a_message_the_server_may_have_keeps_its_place(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock, limiter: Limiter
) -> None:
    """The server took the whole message and hung up before answering: it may be in the inbox
    already, so its place is kept (the limit errs towards sending less, never more)."""
    smtp_server.hang_up_after_data()
    postman = worker(memory_outbox, smtp_server, clock, limiter=limiter, base=3600, timeout=5)
    async with working(postman):
        message = await memory_outbox.enqueue(probe(clock, CLIENT, limited=True))
        await until(lambda: postman.stats.retried == 1, what="the unanswered attempt")
        assert await places_left(limiter) == (2, 4)
        smtp_server.hang_up_after_data(False)
        clock.offset += 3600  # its retry falls due
        postman.poke()
        await eventually(lambda: state_is(memory_outbox, message.id, State.SENT), what="sent")
    assert len(smtp_server.received) == 2  # the window documented in docs/notifications.md
    assert await places_left(limiter) == (1, 3)  # both copies counted


async def test_two_workers_never_send_one_address_more_than_its_limit(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock, limiter: Limiter
) -> None:
    """Reserve, then refund on failure: under a burst, with failed attempts giving places back
    all the while, the address still gets exactly its limit and the rest are held."""
    smtp_server.answer_recipients("451 4.3.0 Try again later")
    workers = [
        worker(memory_outbox, smtp_server, clock, lanes=2, limiter=limiter, name=name, attempts=50)
        for name in ("first", "second")
    ]
    async with working(*workers):
        messages = await asyncio.gather(
            *(memory_outbox.enqueue(probe(clock, CLIENT, limited=True)) for _ in range(8))
        )
        await until(lambda: sum(w.stats.retried for w in workers) >= 8, what="failed attempts")
        smtp_server.answer_recipients(None)

        async def settled() -> bool:
            states = [await state_is(memory_outbox, m.id, State.SENT, State.HELD) for m in messages]
            return all(states)

        await eventually(settled, timeout=30, what="every message sent or held")
    assert len(smtp_server.received) == 3
    assert sum(w.stats.held for w in workers) == 5
    assert await places_left(limiter) == (0, 2)


async def test_each_salon_counts_its_own_mail(
    smtp_server: SmtpServer, clock: Clock, limiter: Limiter
) -> None:
    """With many salons, one salon's public form used against an address, and run up to the
    hour's ceiling, neither holds nor delays another salon's mail to that same address (the
    windows were the deployment's: Jonah's confirmation was held for Maya's flood)."""
    backend = MemoryBackend()
    await backend.open()
    maya, jonah = (
        Outbox(KVStore(backend, salon_namespace("bookings", s))) for s in ("maya", "jonah")
    )
    postman = worker([maya, jonah], smtp_server, clock, limiter=limiter)
    try:
        async with working(postman):
            # Maya: three to the client (its limit), two more to others (the ceiling), one held.
            flood = [await maya.enqueue(probe(clock, CLIENT, limited=True)) for _ in range(3)]
            flood += [
                await maya.enqueue(probe(clock, f"other{n}@example.com", limited=True))
                for n in range(2)
            ]
            await until(lambda: len(smtp_server.received) == 5, what="Maya's five sent")
            over = await maya.enqueue(probe(clock, CLIENT, limited=True))
            await eventually(lambda: state_is(maya, over.id, State.HELD), what="Maya's sixth held")
            confirmation = await jonah.enqueue(probe(clock, CLIENT, limited=True))
            await eventually(
                lambda: state_is(jonah, confirmation.id, State.SENT, State.HELD),
                what="Jonah's confirmation decided",
            )
            sent = await jonah.get(confirmation.id)
            assert sent is not None
            assert sent.state is State.SENT, sent.error
    finally:
        await backend.close()
    assert len(smtp_server.received) == 6
    assert await places_left(limiter) == (3, 5)  # the deployment's own windows: untouched
