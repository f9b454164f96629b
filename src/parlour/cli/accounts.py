"""Staff accounts from the command line: ``parlour create-user`` and ``two-factor reset``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from parlour.cli.common import EXIT_CONFIGURATION, EXIT_FAILED, Commands
from parlour.config import Settings
from parlour.runtime import Runtime
from parlour.services.accounts import AccountError
from parlour.services.audit import Actor


def add_create_user(commands: Commands) -> None:
    create_user = commands.add_parser(
        "create-user",
        help="add a member of staff who can log in",
        description="Add a staff account. The password is read from standard input with "
        "--password-stdin, or asked for twice when run in a terminal; it is never an argument, "
        "so it stays out of shell history and process lists.",
    )
    create_user.add_argument("--email", required=True)
    create_user.add_argument(
        "--role",
        required=True,
        choices=["admin", "reception", "staff"],
        help="admin (the owner), or reception; staff, the old name, is reception (a therapist's "
        "account is made under Staff accounts, where its therapist is chosen)",
    )
    create_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create_user.set_defaults(command=_create_user)


def add_two_factor(commands: Commands) -> None:
    two_factor = commands.add_parser(
        "two-factor",
        help="reset a member of staff's two-factor login",
        description="Turn off the two-factor login of an account whose phone and recovery codes "
        "are lost. Every session of the account ends; they log in with their password and can "
        "set two-factor up again (under PARLOUR_REQUIRE_2FA, admins must). The reset is audited.",
    )
    two_factor.add_argument("action", choices=["reset"])
    two_factor.add_argument("--email", required=True)
    two_factor.set_defaults(command=_two_factor)


def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password for the new account: ")
        if getpass.getpass("The same password again: ") != password:
            print("parlour: the two passwords differ; nothing was created", file=sys.stderr)
            return EXIT_FAILED
    else:
        print(
            "parlour: standard input is not a terminal: pass --password-stdin to read the "
            "password from it",
            file=sys.stderr,
        )
        return EXIT_CONFIGURATION
    return asyncio.run(_create_user_async(settings, args.email, args.role, password))


async def _create_user_async(settings: Settings, email: str, role: str, password: str) -> int:
    async with Runtime.from_settings(settings).opened() as core:
        try:
            user = await core.accounts.create_user(email, role, password)
        except AccountError as exc:
            print(f"parlour: {exc}", file=sys.stderr)
            return EXIT_FAILED
    print(f"Created {user.role} account {user.email}.")
    return 0


def _two_factor(args: argparse.Namespace, settings: Settings) -> int:
    async def reset() -> str:
        async with Runtime.from_settings(settings).opened() as core:
            before = await core.accounts.get(args.email)
            user = await core.twofactor.disable(args.email)
            operator = Actor("", "command line", "local")
            after = {"two_factor": False}
            await core.audit.record(
                operator,
                "2fa.reset",
                user.email,
                {"two_factor": bool(before and before.two_factor)},
                after,
            )
            return user.email

    try:
        email = asyncio.run(reset())
    except AccountError as exc:
        print(f"parlour: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Two-factor is off for {email}; every session of the account has ended.")
    return 0
