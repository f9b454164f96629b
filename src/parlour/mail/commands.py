"""The e-mail commands' work: ``parlour worker``, ``parlour mail test`` and the SMTP line of
``parlour check`` (cli.py parses their arguments)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time

from parlour.config import Settings, load_secret_key
from parlour.domain.addresses import parse_email
from parlour.errors import InvalidInput
from parlour.mail.delivery import delivery_from_settings
from parlour.mail.messages import ProbeMessage, to_json
from parlour.mail.render import Renderer
from parlour.mail.transport import DeliveryFailed, SmtpTransport
from parlour.services.core import Core
from parlour.services.outbox import new_message
from parlour.services.ratelimit import Limiter, policies_from
from parlour.services.sealing import Sealer
from parlour.storage import Storage

log = logging.getLogger("parlour.worker")

EXIT_FAILED = 1
EXIT_CONFIGURATION = 2


async def run_worker(settings: Settings) -> int:
    """One delivery worker until SIGTERM or SIGINT; in-flight sends are marked first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    async with Storage.from_settings(settings) as storage:
        secret = load_secret_key(settings)
        limiter = Limiter(storage.ratelimits, policies_from(settings), secret)
        core = Core.assemble(storage.kv)
        worker = delivery_from_settings(settings, core.outboxes.all, limiter, secret)
        worker.start()
        log.info(
            "delivery worker %s sending through %s", worker.name, worker.transports[0].describe()
        )
        try:
            await stop.wait()
        finally:
            await worker.stop()
    return 0


async def send_test(settings: Settings, transport: SmtpTransport, to: str) -> int:
    """One message straight through the server (not the outbox); the server's answer."""
    try:
        address = parse_email(to).typed
    except InvalidInput as exc:
        print(f"parlour: --to: {exc.fields['email']}", file=sys.stderr)
        return EXIT_CONFIGURATION
    async with Storage.from_settings(settings) as storage:
        business = await Core.assemble(storage.kv).catalogue.business()
    data = to_json(ProbeMessage(business, "parlour mail test"))
    message = new_message("test", [address], data, now=time.time())
    renderer = Renderer(settings.mail_from, Sealer(load_secret_key(settings)).unseal)
    try:
        await transport.send(renderer.email(message), [address])
    except DeliveryFailed as exc:
        print(f"parlour: the test message was not sent: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await transport.close()
    print(f"Sent a test message to {address} through {transport.describe()}.")
    return 0


async def connect_smtp(settings: Settings) -> int:
    """The SMTP line of ``parlour check``; 1 if the server did not let us in."""
    transport = SmtpTransport.from_settings(settings)
    if transport is None:
        print("  --   SMTP not configured: messages are kept in the outbox (/admin/outbox)")
        return 0
    try:
        await transport.check()
    except DeliveryFailed as exc:
        print(f"  FAIL {transport.describe()}: {exc}")
        return 1
    print(f"  ok   {transport.describe()}")
    return 0
