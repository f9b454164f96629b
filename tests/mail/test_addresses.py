"""Addresses the relay may not take (issue 21, item 4): refused for the message's own sake,
such an address makes its message dead at once and never pauses the worker for everyone else;
an IDN domain goes as its A-label through any relay; a local part that is not ASCII goes with
SMTPUTF8 where the relay offers it; and what the relay offers is known from the worker's start
(services/outbox/relay.py), for booking to refuse an address it could never deliver to."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from parlour.config import load_settings
from parlour.domain.addresses import parse_email
from parlour.mail.setup import delivery_from_settings
from parlour.services.bookings.engine import UNDELIVERABLE
from parlour.services.outbox.records import State
from parlour.services.outbox.relay import RelayFeatures
from parlour.services.outbox.store import Outbox
from parlour.web.app import create_app
from parlour.web.parts import parts

from support.delivery import Clock, all_sent, probe, state_is, worker, working
from support.salon import MASSAGE, at, client, furnish, upcoming_weekday
from support.smtp_server import SmtpServer
from support.waiting import eventually, until
from support.web import running

SLACK = 5.0
"""Seconds each SMTP command may take: no timeout on a loaded machine may count as a retry."""


async def test_an_address_the_relay_cannot_take_is_dead_at_once_and_holds_up_no_one(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    postman = worker(memory_outbox, smtp_server, clock, attempts=10, timeout=SLACK)
    async with working(postman):
        refused = [
            await memory_outbox.enqueue(probe(clock, f"josé{n}@example.com")) for n in range(5)
        ]
        ordinary = [
            await memory_outbox.enqueue(probe(clock, f"c{n}@example.com")) for n in range(10)
        ]
        await eventually(lambda: all_sent(memory_outbox, ordinary), timeout=30, what="the ten")

        async def all_dead() -> bool:
            return all([await state_is(memory_outbox, m.id, State.DEAD) for m in refused])

        await eventually(all_dead, what="the five dead")
    for message in refused:
        stored = await memory_outbox.get(message.id)
        assert stored is not None
        assert stored.attempts == 1
        assert "SMTPUTF8" in stored.error
    assert postman.stats.retried == 0
    assert postman.stats.pauses == 0
    assert len(smtp_server.received) == 10


@pytest.mark.parametrize(
    "refuse",
    [
        pytest.param(SmtpServer.answer_recipients, id="550-to-rcpt"),
        pytest.param(SmtpServer.answer, id="554-to-data"),
    ],
)
async def test_a_5xx_for_the_message_is_dead_at_once_without_a_pause(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock, refuse: object
) -> None:
    refuse(smtp_server, "554 5.7.1 Not for this one")  # type: ignore[operator]
    postman = worker(memory_outbox, smtp_server, clock, timeout=SLACK)
    async with working(postman):
        message = await memory_outbox.enqueue(probe(clock))
        await eventually(lambda: state_is(memory_outbox, message.id, State.DEAD), what="dead")
    stored = await memory_outbox.get(message.id)
    assert stored is not None
    assert stored.attempts == 1
    assert (postman.stats.retried, postman.stats.pauses) == (0, 0)


async def test_an_idn_domain_goes_as_its_a_label_through_any_relay(
    memory_outbox: Outbox, smtp_server: SmtpServer, clock: Clock
) -> None:
    postman = worker(memory_outbox, smtp_server, clock, timeout=SLACK)
    async with working(postman):
        message = await memory_outbox.enqueue(probe(clock, "ida@exämple.com"))
        await eventually(lambda: state_is(memory_outbox, message.id, State.SENT), what="sent")
    (received,) = smtp_server.received
    assert received.recipients == ("ida@xn--exmple-cua.com",)
    assert received.message["To"] == "ida@xn--exmple-cua.com"
    stored = await memory_outbox.get(message.id)
    assert stored is not None
    assert stored.to == ("ida@exämple.com",)  # kept as the client typed it


async def test_a_local_part_beyond_ascii_goes_with_smtputf8_where_the_relay_offers_it(
    memory_outbox: Outbox, clock: Clock
) -> None:
    server = SmtpServer(smtputf8=True).start()
    try:
        postman = worker(memory_outbox, server, clock, timeout=SLACK)
        async with working(postman):
            message = await memory_outbox.enqueue(probe(clock, "josé@exämple.com"))
            await eventually(lambda: state_is(memory_outbox, message.id, State.SENT), what="sent")
        (received,) = server.received
        assert received.recipients == ("josé@xn--exmple-cua.com",)
        assert received.message["To"] == "josé@xn--exmple-cua.com"
    finally:
        server.stop()


@pytest.mark.parametrize("smtputf8", [False, True], ids=["plain-relay", "smtputf8-relay"])
async def test_the_worker_asks_the_relay_what_it_offers_when_it_starts(
    memory_outbox: Outbox, clock: Clock, smtputf8: bool
) -> None:
    server = SmtpServer(smtputf8=smtputf8).start()
    try:
        postman = worker(memory_outbox, server, clock, timeout=SLACK)
        relay = postman.relay
        assert relay is not None
        assert relay.smtputf8 is None  # not asked yet
        async with working(postman):
            await until(lambda: postman.passes >= 1, what="the first pass")  # after the probe
            assert relay.smtputf8 is smtputf8
            assert relay.can_deliver(parse_email("josé@example.com")) is smtputf8
            assert relay.can_deliver(parse_email("ida@exämple.com")) is True
        assert server.received == []  # a probe sends nothing
    finally:
        server.stop()


async def test_the_process_shares_one_relay_with_its_worker(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path, smtp_url=smtp_server.url)
    shared = RelayFeatures()
    postman = delivery_from_settings(settings, [], None, b"k" * 48, relay=shared)
    assert postman.relay is shared
    assert all(transport.relay is shared for transport in postman.transports)
    assert shared.can_deliver(parse_email("josé@example.com")) is None  # unknown until asked
    await postman.transports[0].check()
    assert shared.smtputf8 is False
    assert shared.can_deliver(parse_email("josé@example.com")) is False
    assert shared.can_deliver(parse_email("ida@exämple.com")) is True


@pytest.mark.parametrize(
    "relay",
    [None, False, True],
    ids=["no-relay", "plain-relay", "smtputf8-relay"],
)
async def test_booking_takes_an_address_only_smtputf8_carries_only_where_the_relay_offers_it(
    tmp_path: Path, relay: bool | None
) -> None:
    """It was accepted everywhere; a relay without SMTPUTF8 then refused every message to it."""
    server = None if relay is None else SmtpServer(smtputf8=relay).start()
    settings = load_settings(
        env_file=None, data_dir=tmp_path, smtp_url=None if server is None else server.url
    )
    app = create_app(settings)
    day = upcoming_weekday()
    try:
        async with running(app) as http:
            await furnish(parts(app).storage.kv)
            if server is not None:  # the worker asks the relay when it starts
                await until(lambda: parts(app).delivery.passes >= 1, what="the first pass")

            async def book(hour: int, email: str) -> httpx.Response:
                body = {"treatment": MASSAGE.id, "start": at(hour, day=day), **client(hour)}
                return await http.post("/api/bookings", json={**body, "email": email})

            idn = await book(10, "ida@exämple.com")
            utf8 = await book(11, "josé@example.com")
            if relay:  # stored case-folded, it was mailed to strasse@, another mailbox
                assert (await book(12, "straße@example.com")).status_code == 201
                assert server is not None
                mailed = server
                await until(
                    lambda: any(m.recipients == ("straße@example.com",) for m in mailed.received),
                    what="the confirmation to straße@, as typed",
                )
    finally:
        if server is not None:
            server.stop()
    assert idn.status_code == 201, idn.text  # a domain needs nothing of the relay
    if relay:
        assert utf8.status_code == 201, utf8.text
    else:
        assert utf8.status_code == 422
        assert utf8.json()["fields"]["email"] == UNDELIVERABLE
