"""The delivery worker against a real SMTP server, on every backend: each message once, 4xx
retried and 5xx dead, a server down or hung, a lease taken over, and the mail rate limits."""

from __future__ import annotations

import asyncio

import pytest

from parlour.services.outbox.records import State
from parlour.services.outbox.store import Outbox
from parlour.services.ratelimit import Limiter
from parlour.storage import Backend, KVStore

from support.delivery import Clock, all_sent, ids, probe, state_is, worker, working
from support.smtp_server import SmtpServer
from support.waiting import eventually, until


@pytest.fixture
def outbox(data_backend: Backend) -> Outbox:
    return Outbox(KVStore(data_backend, "bookings"))


async def test_a_new_message_is_delivered_once_woken_by_its_event(
    outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    postman = worker(outbox, smtp_server, clock)
    async with working(postman):
        await until(lambda: postman.passes >= 1, what="the first pass")
        message = await outbox.enqueue(probe(clock))
        await until(lambda: len(smtp_server.received) == 1, what="delivery")
        await eventually(lambda: state_is(outbox, message.id, State.SENT), what="marked sent")
    (received,) = smtp_server.received
    assert received.message_id == postman.renderer.message_id(message)
    assert received.recipients == ("client@example.com",)
    assert postman.stats.sent == 1
    assert postman.passes < 10  # woken by events, not a polling loop


async def test_4xx_is_retried_until_it_is_accepted(
    outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    smtp_server.answer("451 4.3.0 Mailbox busy, try later")
    postman = worker(outbox, smtp_server, clock, attempts=50)
    async with working(postman):
        message = await outbox.enqueue(probe(clock))
        await until(lambda: postman.stats.retried >= 2, what="two retries")
        smtp_server.answer(None)
        await until(lambda: len(smtp_server.received) == 1, what="delivery after the 4xx")
        await eventually(lambda: state_is(outbox, message.id, State.SENT), what="sent")
    stored = await outbox.get(message.id)
    assert stored is not None
    assert stored.attempts >= 2
    assert "451" in stored.error


async def test_5xx_makes_the_message_dead_and_staff_can_retry_it(
    outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    smtp_server.answer("550 5.1.1 No such mailbox")
    postman = worker(outbox, smtp_server, clock)
    async with working(postman):
        message = await outbox.enqueue(probe(clock))
        await eventually(lambda: state_is(outbox, message.id, State.DEAD), what="dead")
        dead = await outbox.get(message.id)
        assert dead is not None
        assert "550" in dead.error
        assert dead.attempts == 1  # a 5xx is not tried again
        assert postman.stats.retried == 0
        smtp_server.answer(None)
        assert await outbox.retry(message.id, clock()) is not None
        await until(lambda: len(smtp_server.received) == 1, what="delivery after the retry")


async def test_the_last_attempt_makes_a_4xx_dead(
    outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    smtp_server.answer("451 4.3.0 Too busy")
    postman = worker(outbox, smtp_server, clock, attempts=3)
    async with working(postman):
        message = await outbox.enqueue(probe(clock))
        await eventually(lambda: state_is(outbox, message.id, State.DEAD), what="dead")
    dead = await outbox.get(message.id)
    assert dead is not None
    assert dead.attempts == 3
    assert dead.error.startswith("3 attempts;")
    assert smtp_server.received == []


async def test_a_server_down_for_a_while_loses_nothing(
    outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    smtp_server.stop()
    postman = worker(outbox, smtp_server, clock, attempts=100, timeout=5)
    async with working(postman):
        messages = [await outbox.enqueue(probe(clock, f"c{n}@example.com")) for n in range(20)]
        await until(lambda: postman.stats.retried >= 1, what="a failed attempt")
        await until(lambda: postman.stats.probes >= 1, what="a probe of the server")
        # Trouble with the server pauses the worker rather than failing all twenty in turn:
        # while its probes go unanswered it offers none.
        assert (postman.stats.retried, postman.stats.pauses) == (1, 1)
        smtp_server.start()
        await until(lambda: len(smtp_server.received) == 20, timeout=30, what="all twenty")
    assert sorted(ids(smtp_server)) == sorted(postman.renderer.message_id(m) for m in messages)
    assert postman.stats.retried == 1


async def test_a_server_that_never_answers_is_bounded_and_retried(
    outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    smtp_server.go_silent()
    postman = worker(outbox, smtp_server, clock, attempts=100)
    async with working(postman):
        message = await outbox.enqueue(probe(clock))
        await until(lambda: postman.stats.retried >= 1, timeout=15, what="a timed-out attempt")
        stored = await outbox.get(message.id)
        assert stored is not None
        assert "did not answer" in stored.error
        smtp_server.start()
        await until(lambda: len(smtp_server.received) == 1, timeout=30, what="delivery")


async def test_two_workers_send_each_message_exactly_once(
    outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    first = worker(outbox, smtp_server, clock, lanes=2, name="first")
    second = worker(outbox, smtp_server, clock, lanes=2, name="second")
    async with working(first, second):
        messages = await asyncio.gather(
            *(outbox.enqueue(probe(clock, f"c{n}@example.com")) for n in range(60))
        )
        await until(lambda: len(smtp_server.received) >= 60, timeout=60, what="sixty")
        await eventually(lambda: all_sent(outbox, messages), timeout=30, what="all marked sent")
    assert len(smtp_server.received) == 60
    assert sorted(ids(smtp_server)) == sorted(first.renderer.message_id(m) for m in messages)
    assert first.stats.sent + second.stats.sent == 60


async def test_a_lease_left_by_a_dead_worker_is_taken_over(
    outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    message = await outbox.enqueue(probe(clock))
    (entry,) = (await outbox.scan(clock())).due
    assert await outbox.lease(entry, "killed worker", clock(), 60) is not None
    postman = worker(outbox, smtp_server, clock)
    async with working(postman):
        await until(lambda: postman.passes >= 1, what="a pass")
        assert smtp_server.received == []  # leased by the other: left alone
        clock.offset += 61
        postman.poke()
        await until(lambda: len(smtp_server.received) == 1, what="the take-over")
    assert ids(smtp_server) == [postman.renderer.message_id(message)]


async def test_a_lease_is_renewed_only_over_the_record_its_worker_wrote(
    outbox: Outbox, clock: Clock
) -> None:
    """What a send that waits long for its answer relies on (mail/leases.py): renewal extends
    the holder's lease, and fails once the record changed under it (taken over, cancelled)."""
    await outbox.enqueue(probe(clock))
    (entry,) = (await outbox.scan(clock())).due
    now = clock()
    leased = await outbox.lease(entry, "first", now, 10)
    assert leased is not None
    renewed = await outbox.renew(leased, now + 5, 10)
    assert renewed is not None
    assert renewed.lease_until == now + 15
    stored = await outbox.get(leased.id)
    assert stored == renewed
    assert await outbox.renew(leased, now + 6, 10) is None  # a stale copy: not ours to extend
    taken = await outbox.lease(entry, "second", now + 16, 10)  # ran out: another takes it
    assert taken is not None
    assert taken.leased_by("second", now + 16)
    assert await outbox.renew(renewed, now + 16, 10) is None


async def test_a_message_due_later_waits_for_its_time(
    outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    postman = worker(outbox, smtp_server, clock)
    async with working(postman):
        await until(lambda: postman.passes >= 1, what="the first pass")
        await outbox.enqueue(probe(clock, due=clock() + 3600))
        await until(lambda: postman.passes >= 2, what="the pass the new message caused")
        assert smtp_server.received == []
        clock.offset += 3600
        postman.poke()
        await until(lambda: len(smtp_server.received) == 1, what="the due message")


async def test_with_no_smtp_messages_stay_in_the_outbox(outbox: Outbox, clock: Clock) -> None:
    postman = worker(outbox, None, clock)
    async with working(postman):
        message = await outbox.enqueue(probe(clock))
        await until(lambda: postman.stats.due == 1, what="the worker counting it")
        assert postman.stats.oldest_due == message.due
    kept = await outbox.get(message.id)
    assert kept is not None
    assert kept.state is State.PENDING


async def test_a_public_form_cannot_mail_bomb_one_address(
    outbox: Outbox, smtp_server: SmtpServer, clock: Clock, limiter: Limiter
) -> None:
    postman = worker(outbox, smtp_server, clock, limiter=limiter)
    async with working(postman):
        victim = "victim@example.com"
        bombs = [await outbox.enqueue(probe(clock, victim, limited=True)) for _ in range(6)]
        staff = await outbox.enqueue(probe(clock, "victim@example.com"))  # not limited
        await until(lambda: postman.stats.held == 3, what="three held")
        await until(lambda: len(smtp_server.received) == 4, what="three and the staff one")
        listed = await outbox.listing(clock())
        held = {m.id for m in listed[State.HELD]}
        assert len(held) == 3
        assert held <= {m.id for m in bombs}
        assert staff.id not in held
        assert limiter.decisions["mail_recipient", "refused"] == 3
        # Staff may send a held one anyway: a person decided, so no limit applies.
        assert await outbox.retry(sorted(held)[0], clock()) is not None
        await until(lambda: len(smtp_server.received) == 5, what="the one staff released")


async def test_the_global_ceiling_defers_rather_than_drops(
    outbox: Outbox, smtp_server: SmtpServer, clock: Clock, limiter: Limiter
) -> None:
    postman = worker(outbox, smtp_server, clock, limiter=limiter)
    async with working(postman):
        for n in range(7):
            await outbox.enqueue(probe(clock, f"c{n}@example.com", limited=True))
        await until(lambda: postman.stats.deferred >= 2, what="two deferred")
        assert len(smtp_server.received) == 5
        listed = await outbox.listing(clock())
        waiting = listed[State.PENDING]
        assert len(waiting) == 2
        assert all(m.error == "waiting for the hourly ceiling" for m in waiting)
        assert all(m.attempts == 0 for m in waiting)
        assert all(m.due > clock() + 3000 for m in waiting)


async def test_stopping_lets_a_send_in_flight_be_marked(
    outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    """A graceful stop (a deploy) between the server's 250 and the mark would leave the
    message leased and unmarked, to be sent again by the next worker."""
    release = smtp_server.hold()
    postman = worker(outbox, smtp_server, clock)
    postman.start()
    message = await outbox.enqueue(probe(clock))
    await until(lambda: smtp_server.holding, what="the send in flight")
    stopping = asyncio.create_task(postman.stop())
    await until(lambda: postman._stopping, what="the stop to begin")
    release.set()
    smtp_server.release()
    await stopping
    stored = await outbox.get(message.id)
    assert stored is not None
    assert stored.state is State.SENT
    assert len(smtp_server.received) == 1
