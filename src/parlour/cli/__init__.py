"""The ``parlour`` command: one module per job, each adding its commands to the parser.

- :mod:`~parlour.cli.serve`: ``serve`` and ``demo``;
- :mod:`~parlour.cli.backends`: ``check``, ``accept-store`` and ``db``;
- :mod:`~parlour.cli.transfer`: ``migrate``, ``verify``, ``export`` and ``import``;
- :mod:`~parlour.cli.accounts`: ``create-user`` and ``two-factor``;
- :mod:`~parlour.cli.ratelimit`, :mod:`~parlour.cli.mail` (``worker``, ``mail test``) and
  :mod:`~parlour.cli.audit`;
- :mod:`~parlour.cli.tenant`: ``tenant`` (the salons of a multi-tenant deployment).

Each command builds the process's :class:`~parlour.runtime.Runtime` from the settings read here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from parlour import __version__
from parlour.cli import accounts, audit, backends, mail, ratelimit, serve, tenant, transfer
from parlour.cli.common import EXIT_CONFIGURATION, EXIT_FAILED, Command
from parlour.config import load_settings
from parlour.errors import ConfigurationError, ParlourError
from parlour.logs import configure_logging
from parlour.storage.registry import check_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        check_settings(settings)  # an unknown backend or a missing URL: before any command runs
    except ConfigurationError as exc:
        print(f"parlour: configuration error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIGURATION
    configure_logging(settings)
    command: Command = args.command
    try:
        return command(args, settings)
    except ConfigurationError as exc:
        print(f"parlour: configuration error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIGURATION
    except ParlourError as exc:
        print(f"parlour: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parlour",
        description="Booking for treatment businesses. Settings come from the environment and "
        ".env; see .env.example.",
    )
    parser.add_argument("--version", action="version", version=f"parlour {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for add in (
        serve.add_commands,
        backends.add_check,
        accounts.add_create_user,
        transfer.add_commands,
        backends.add_db,
        ratelimit.add_commands,
        mail.add_commands,
        audit.add_commands,
        accounts.add_two_factor,
        tenant.add_commands,
    ):
        add(commands)
    return parser
