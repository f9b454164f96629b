"""The e-mail commands: ``parlour worker``, ``parlour mail test`` and the SMTP line of
``parlour check``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time

from parlour.cli.common import EXIT_CONFIGURATION, EXIT_FAILED, Commands
from parlour.config import Settings
from parlour.domain.addresses import parse_email
from parlour.errors import InvalidInput
from parlour.mail.transport import DeliveryFailed, SmtpTransport
from parlour.runtime import Runtime
from parlour.services.notices.messages import ProbeMessage, to_json
from parlour.services.outbox.records import new_message

log = logging.getLogger("parlour.worker")


def add_commands(commands: Commands) -> None:
    worker = commands.add_parser(
        "worker",
        help="deliver the outbox's messages, alone (every serve process does too)",
        description="Run one delivery worker without the web app: it sends what the outbox "
        "holds through PARLOUR_SMTP_URL until stopped (SIGTERM or Ctrl-C). Any number of "
        "workers and serve processes may share one store; each message goes once.",
    )
    worker.set_defaults(command=_worker)

    mail = commands.add_parser(
        "mail", help="e-mail: send a test message", description="E-mail tools."
    )
    mail_commands = mail.add_subparsers(title="commands", required=True, metavar="COMMAND")
    mail_test = mail_commands.add_parser(
        "test",
        help="send one test message now, through PARLOUR_SMTP_URL",
        description="Send one message straight through the configured SMTP server (not "
        "through the outbox) and say whether the server accepted it.",
    )
    mail_test.add_argument("--to", required=True, metavar="ADDRESS")
    mail_test.set_defaults(command=_mail_test)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.smtp_url:
        print(
            "parlour: PARLOUR_SMTP_URL is not set, so there is nothing to deliver through: "
            "messages stay in the outbox (/admin/outbox)",
            file=sys.stderr,
        )
        return EXIT_CONFIGURATION
    return asyncio.run(run_worker(settings))


def _mail_test(args: argparse.Namespace, settings: Settings) -> int:
    transport = SmtpTransport.from_settings(settings)
    if transport is None:
        print("parlour: PARLOUR_SMTP_URL is not set; nothing to send through", file=sys.stderr)
        return EXIT_CONFIGURATION
    return asyncio.run(send_test(settings, transport, args.to))


async def run_worker(settings: Settings) -> int:
    """One delivery worker until SIGTERM or SIGINT; in-flight sends are marked first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    runtime = Runtime.from_settings(settings)
    async with runtime.opened():
        worker = runtime.delivery
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
    runtime = Runtime.from_settings(settings)
    async with runtime.opened() as core:
        business = await core.catalogue.business()
    data = to_json(ProbeMessage(business, "parlour mail test"))
    message = new_message("test", [address], data, now=time.time())
    renderer = runtime.delivery.renderer
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
