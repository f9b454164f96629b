"""``parlour audit export``: the audit log as JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from parlour.cli.common import Commands
from parlour.config import Settings
from parlour.runtime import Runtime
from parlour.services.audit import AuditFilter


def add_commands(commands: Commands) -> None:
    audit = commands.add_parser(
        "audit",
        help="export the audit log",
        description="Write the audit log (who changed what, when, from where, before and "
        "after) as JSON lines, oldest first. The log itself cannot be changed.",
    )
    audit.add_argument("action", choices=["export"])
    audit.add_argument("file", type=Path)
    audit.add_argument(
        "--since",
        type=_instant,
        metavar="WHEN",
        help="only entries from then on: 2026-11-01 (UTC midnight) or 2026-11-01T09:30+00:00",
    )
    audit.set_defaults(command=_audit)


def _instant(text: str) -> float:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time; write 2026-11-01 or 2026-11-01T09:30+00:00"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    async def export() -> int:
        count = 0
        async with Runtime.from_settings(settings).opened() as core:
            entries = core.audit.entries(AuditFilter(since=args.since))
            with args.file.open("w", encoding="utf-8") as out:
                async for entry in entries:
                    out.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
                    count += 1
        return count

    count = asyncio.run(export())
    print(f"{count} entries written to {args.file}")
    return 0
