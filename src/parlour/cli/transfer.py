"""Moving records between stores: ``parlour migrate``, ``verify``, ``export`` and ``import``
(the work is ``parlour.migration``'s, which opens the stores each command names)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from parlour import migration
from parlour.cli.common import EXIT_FAILED, Commands
from parlour.config import Settings
from parlour.migration import MOVABLE

STORE_HELP = (
    "A STORE is memory (the memory backend's snapshot), sqlite, sqlite:PATH, file:PATH (JSON "
    "lines), a redis:// URL, or configured (what the settings give each namespace). See "
    "docs/migration.md."
)


def add_commands(commands: Commands) -> None:
    for name, text in (
        ("migrate", "copy namespaces from one store to another, never overwriting"),
        ("verify", "compare two stores, key by key; exit 1 on any difference"),
    ):
        command = commands.add_parser(
            name, help=text, description=f"{text[0].upper()}{text[1:]}. {STORE_HELP}"
        )
        command.add_argument("--from", dest="source", required=True, metavar="STORE")
        command.add_argument("--to", dest="target", required=True, metavar="STORE")
        _namespace_option(command)
        if name == "migrate":
            command.add_argument(
                "--dry-run", action="store_true", help="count what would be copied, copy nothing"
            )
        command.set_defaults(command=_migrate if name == "migrate" else _verify)
    for name, text in (
        ("export", "write namespaces to a JSON-lines file (a backup)"),
        ("import", "read a JSON-lines file into the configured stores, never overwriting"),
    ):
        command = commands.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}.")
        command.add_argument("file", type=Path)
        _namespace_option(command)
        command.set_defaults(command=_export if name == "export" else _import)


def _namespace_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--namespace",
        action="append",
        choices=MOVABLE,
        metavar="N",
        help="only this namespace (repeat for more; default: all); with "
        "PARLOUR_TENANCY=multi, that namespace of every salon and of the platform",
    )


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    namespaces = args.namespace or list(MOVABLE)
    return asyncio.run(
        migration.migrate(settings, args.source, args.target, namespaces, args.dry_run)
    )


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    namespaces = args.namespace or list(MOVABLE)
    return asyncio.run(migration.verify(settings, args.source, args.target, namespaces))


def _export(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(migration.export(settings, args.file, args.namespace or list(MOVABLE)))


def _import(args: argparse.Namespace, settings: Settings) -> int:
    if not args.file.is_file():
        print(f"parlour: {args.file} does not exist", file=sys.stderr)
        return EXIT_FAILED
    return asyncio.run(migration.import_(settings, args.file, args.namespace or list(MOVABLE)))
