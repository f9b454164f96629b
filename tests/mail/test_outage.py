"""After a long SMTP outage mail resumes within seconds of the server's return (issue 21): a
paused worker probes the server every few seconds (mail/outage.py) instead of sleeping out a
pause that had grown to five minutes, and offers no message while the probes go unanswered,
so an outage spends no message's attempts."""

from __future__ import annotations

from parlour.mail.outage import PROBE_EVERY, PROBE_FIRST, Outage
from parlour.services.outbox.records import State
from parlour.services.outbox.store import Outbox

from support.delivery import Clock, probe, state_is, worker, working
from support.smtp_server import SmtpServer
from support.waiting import eventually, until

BOUND = 5.0
"""The bound docs/notifications.md states: mail resumes within 5 s of the server's return
(and one probe's round trips)."""


async def test_after_a_long_outage_mail_resumes_within_seconds_of_the_servers_return(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    smtp_server.stop()
    postman = worker(memory_outbox, smtp_server, clock, base=30.0, attempts=10, timeout=5)
    async with working(postman):
        message = await memory_outbox.enqueue(probe(clock))  # the default retry base: 30 s
        await until(lambda: postman.stats.retried >= 1, what="the first failure")
        for looks in range(postman.passes + 1, postman.passes + 31):
            clock.offset += 60  # thirty minutes down on the worker's clock, a look a minute
            postman.poke()
            await until(lambda: postman.passes >= looks, what="a look")  # noqa: B023
        smtp_server.start()
        # Room for a loaded machine above the bound; the pause it replaces was 5 minutes.
        await until(lambda: len(smtp_server.received) == 1, timeout=BOUND + 5, what="delivery")
        await eventually(lambda: state_is(memory_outbox, message.id, State.SENT), what="sent")
    stored = await memory_outbox.get(message.id)
    assert stored is not None
    assert stored.attempts == 1  # the outage spent one attempt, not one per pause


def test_probes_come_at_most_the_bound_apart() -> None:
    assert PROBE_EVERY == BOUND
    outage = Outage()
    outage.begin(100.0)
    assert outage.next_probe == 100.0 + PROBE_FIRST
    now = 100.0
    for _ in range(20):
        now = outage.next_probe
        assert outage.probe_due(now)
        outage.probed(False, now)
        assert 0 < outage.next_probe - now <= BOUND
    outage.probed(True, now)
    assert not outage.paused
    assert not outage.probe_due(now + 3600)
