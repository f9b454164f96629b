"""``parlour ratelimit show|clear``: the windows that count one client, seen or cleared."""

from __future__ import annotations

import argparse
import asyncio
import sys

from parlour.cli.common import EXIT_CONFIGURATION, EXIT_FAILED, Commands
from parlour.config import Settings
from parlour.runtime import Runtime
from parlour.services.login_throttle import windows
from parlour.storage.registry import Reach, entry_for
from parlour.web.templating import duration


def add_commands(commands: Commands) -> None:
    ratelimit = commands.add_parser(
        "ratelimit",
        help="see or clear the rate-limit windows of an e-mail address and/or an IP",
        description="See or clear every rate-limit window that counts one client, to unblock "
        "them: --email alone covers the account's own login window (addresses it does not "
        "know) and the e-mail's bookings; --ip alone the address's logins, bookings and "
        "reviews; both add the account from that address. Works on the shared windows in "
        "Redis; windows kept in memory belong to the running process (use its admin page).",
    )
    ratelimit.add_argument("action", choices=["show", "clear"])
    ratelimit.add_argument("--email", default="", help="the account's or client's e-mail address")
    ratelimit.add_argument("--ip", default="", help="the client's IP address (IPv6: its /64)")
    ratelimit.add_argument(
        "--policy",
        choices=["booking", "login", "login_account", "review"],
        help="one policy (default: all)",
    )
    ratelimit.set_defaults(command=_ratelimit)


def _ratelimit(args: argparse.Namespace, settings: Settings) -> int:
    if not (args.email.strip() or args.ip.strip()):
        print("parlour: give --email, --ip or both", file=sys.stderr)
        return EXIT_CONFIGURATION
    if entry_for("ratelimit", settings).reach is Reach.PROCESS:
        print(
            "parlour: rate limits are kept in the memory of the running process (no REDIS_URL "
            "or PostgreSQL for them); see and clear them from its admin page",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return asyncio.run(_ratelimit_async(args, settings))


async def _ratelimit_async(args: argparse.Namespace, settings: Settings) -> int:
    found = [w for w in windows(args.email, args.ip) if args.policy in (None, w.policy)]
    runtime = Runtime.from_settings(settings)
    limiter = runtime.limiter
    async with runtime.opened():
        for window in found:
            if args.action == "clear":
                await limiter.clear(window.policy, window.identity)
                print(f"{window.label}: cleared")
                continue
            verdict = await limiter.peek(window.policy, window.identity)
            rate = limiter.policies[window.policy].rate
            used = f"{rate.limit - verdict.remaining}/{rate.limit} used in {rate}"
            state = (
                f"blocked for {duration(verdict.retry_after)}" if not verdict.allowed else "allowed"
            )
            print(f"{window.label}: {used}, {state}")
    return 0
