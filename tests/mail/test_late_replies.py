"""A late answer to the final dot (issue 21, item 3), and every window left in which a message
can reach its recipient twice (docs/notifications.md lists them; each is reproduced here, or
in test_worker_processes.py for a worker killed mid-send, so that none widens unnoticed).

RFC 5321 (4.5.3.2.6) gives a server ten minutes to answer the final dot, and a server that
has the message and answers late is not rare (content filters). A client that gives up sooner
and tries again delivers the message twice, so the transport waits that long, and the worker
renews the message's lease meanwhile so that no other worker takes it over."""

from __future__ import annotations

from parlour.services.outbox.records import State
from parlour.services.outbox.store import Outbox

from support.delivery import Clock, ids, probe, state_is, worker, working
from support.smtp_server import SmtpServer
from support.waiting import eventually, until

SLACK = 5.0
"""Seconds each command before DATA may take, where no timeout on a loaded machine may count
as an attempt."""


async def test_a_late_250_is_waited_for_and_the_message_goes_once(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    smtp_server.reply_late(5.0)  # each command may take 2 s (PARLOUR_SMTP_TIMEOUT here)
    postman = worker(memory_outbox, smtp_server, clock, timeout=2.0)
    async with working(postman):
        message = await memory_outbox.enqueue(probe(clock))
        await eventually(
            lambda: state_is(memory_outbox, message.id, State.SENT, State.DEAD),
            timeout=40,
            what="an outcome",
        )
    stored = await memory_outbox.get(message.id)
    assert stored is not None
    assert stored.state is State.SENT, stored.error
    assert ids(smtp_server) == [postman.renderer.message_id(message)]


async def test_the_lease_is_renewed_while_the_answer_is_awaited(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    """A lease sized for the commands alone (6.5 s here) would run out before the answer
    (9 s), and the other worker would take the message over and send it again."""
    smtp_server.reply_late(9.0)
    first = worker(memory_outbox, smtp_server, clock, timeout=0.5, name="first")
    second = worker(memory_outbox, smtp_server, clock, timeout=0.5, name="second")
    assert first.lease_seconds < 9.0
    async with working(first, second):
        message = await memory_outbox.enqueue(probe(clock))
        await eventually(
            lambda: state_is(memory_outbox, message.id, State.SENT, State.DEAD),
            timeout=40,
            what="an outcome",
        )
    assert len(smtp_server.received) == 1
    stored = await memory_outbox.get(message.id)
    assert stored is not None
    assert stored.state is State.SENT, stored.error


# -- the windows that remain ----------------------------------------------------------------


async def test_window_an_answer_later_than_the_wait_sends_it_again(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    """Window 2: a server that answers the final dot later than the wait (ten minutes by
    default, half a second here) is taken not to have the message."""
    smtp_server.reply_late(2.0)
    postman = worker(
        memory_outbox, smtp_server, clock, base=3600, timeout=SLACK, final_reply_wait=0.5
    )
    async with working(postman):
        message = await memory_outbox.enqueue(probe(clock))
        await until(lambda: postman.stats.retried == 1, what="the attempt that gave up")
        stored = await memory_outbox.get(message.id)
        assert stored is not None
        assert "may have it" in stored.error
        smtp_server.reply_late(0.0)
        clock.offset += 3600  # its retry falls due
        postman.poke()
        await eventually(lambda: state_is(memory_outbox, message.id, State.SENT), what="sent")
    assert ids(smtp_server) == [postman.renderer.message_id(message)] * 2


async def test_window_the_connection_lost_before_the_answer_sends_it_again(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    """Window 3: the server took the whole message and the connection dropped before its
    answer arrived (a crash or a network cut on either side of it)."""
    smtp_server.hang_up_after_data()
    postman = worker(memory_outbox, smtp_server, clock, base=3600, timeout=SLACK)
    async with working(postman):
        message = await memory_outbox.enqueue(probe(clock))
        await until(lambda: postman.stats.retried == 1, what="the unanswered attempt")
        smtp_server.hang_up_after_data(False)
        clock.offset += 3600
        postman.poke()
        await eventually(lambda: state_is(memory_outbox, message.id, State.SENT), what="sent")
    assert ids(smtp_server) == [postman.renderer.message_id(message)] * 2


async def test_window_a_stop_that_outlasts_its_grace_leaves_the_message_to_be_sent_again(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    """Window 4: a stop (a deploy's SIGTERM) waits one lease for the answer, then gives up;
    the message is left leased and unmarked, and the next worker sends it again."""
    release = smtp_server.hold()
    stopped = worker(memory_outbox, smtp_server, clock, timeout=0.5, name="stopped")
    stopped.start()
    message = await memory_outbox.enqueue(probe(clock))
    await until(lambda: smtp_server.holding, what="the send awaiting its answer")
    await stopped.stop()  # waits its grace, the lease's length, then cancels the send
    release.set()
    smtp_server.release()
    stored = await memory_outbox.get(message.id)
    assert stored is not None
    assert stored.state is State.PENDING
    clock.offset += 2 * stopped.lease_seconds  # the stopped worker's lease runs out
    heir = worker(memory_outbox, smtp_server, clock, name="heir")
    async with working(heir):
        await eventually(lambda: state_is(memory_outbox, message.id, State.SENT), what="sent")
    assert ids(smtp_server) == [heir.renderer.message_id(message)] * 2


async def test_window_clocks_apart_by_more_than_a_lease_send_it_twice(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    """Window 5: the lease runs out under a live worker, because its store could not be
    reached to renew it for longer than a lease, or (as here) because the instances' clocks
    disagree by more than a lease. Another worker takes the message over and sends it too."""
    release = smtp_server.hold()
    first = worker(memory_outbox, smtp_server, clock, name="first")
    ahead = Clock()
    ahead.offset = clock.offset + 2 * first.lease_seconds
    second = worker(memory_outbox, smtp_server, ahead, name="second")
    async with working(first):
        message = await memory_outbox.enqueue(probe(clock))
        await until(lambda: smtp_server.holding, what="the first send awaiting its answer")
        async with working(second):
            await until(lambda: len(smtp_server.received) == 2, what="the second copy")
            release.set()
            smtp_server.release()
            await eventually(lambda: state_is(memory_outbox, message.id, State.SENT), what="sent")
    assert ids(smtp_server) == [first.renderer.message_id(message)] * 2
