"""The commands about the stores themselves: ``parlour check``, ``accept-store`` and ``db``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from parlour.cli import mail
from parlour.cli.common import EXIT_FAILED, Commands
from parlour.config import NAMESPACES, Settings
from parlour.errors import StorageError
from parlour.runtime import Runtime


def add_check(commands: Commands) -> None:
    check = commands.add_parser(
        "check",
        help="show the configuration and connect to every backend",
        description="Print the effective configuration (secrets masked) and the backend of each "
        "namespace, then connect to each backend. Exits 1 if any backend does not answer, "
        "Redis refuses writes, or Redis holds durable data under an evicting maxmemory-policy "
        "or has lost it; warns when it would evict sessions.",
    )
    check.set_defaults(command=_check)

    accept = commands.add_parser(
        "accept-store",
        help="serve what Redis holds now, after Parlour refused an emptied store",
        description="Parlour refuses to serve bookings and the catalogue from a Redis that lost "
        "them (restarted empty, flushed). Restore a backup first (parlour import FILE) or "
        "not, then run this to serve what Redis holds now: a new epoch that every instance "
        "adopts (see storage/durability.py).",
    )
    accept.set_defaults(command=_accept_store)


def add_db(commands: Commands) -> None:
    database = commands.add_parser(
        "db",
        help="manage the PostgreSQL schema",
        description="upgrade: apply the schema migrations this Parlour needs to every configured "
        "PostgreSQL (once per upgrade, for all instances; serve refuses to start on an older "
        "schema). status: print each one's server and schema version.",
    )
    database.add_argument("action", choices=["upgrade", "status"])
    database.set_defaults(command=_db)


def _check(args: argparse.Namespace, settings: Settings) -> int:
    print("Configuration:")
    for name, value in settings.describe():
        print(f"  {name}={value}")
    print("\nNamespaces:")
    for namespace in NAMESPACES:
        print(f"  {namespace:<12} {settings.backend_for(namespace)}")
    return asyncio.run(_connect(Runtime.from_settings(settings)))


async def _connect(runtime: Runtime) -> int:
    print("\nBackends:")
    failed = 0
    for backend in runtime.storage.backends.values():
        try:
            await backend.open()
            await backend.ping()
        except StorageError as exc:
            failed += 1
            print(f"  FAIL {backend.describe()}: {exc}")
        else:
            about = None
            with contextlib.suppress(StorageError):
                about = await backend.about()
            print(f"  ok   {backend.describe()}" + (f": {about}" if about else ""))
        finally:
            await backend.close()
    if not failed and runtime.settings.redis_url:
        failed += await _judge_redis(runtime)
    failed += await mail.connect_smtp(runtime.settings)
    return EXIT_FAILED if failed else 0


async def _judge_redis(runtime: Runtime) -> int:
    """Whether Redis takes writes and may hold what Parlour keeps there; 1 if not."""
    async with runtime.opened():
        durability = runtime.durability
        try:
            await durability.probe_write()
            verdict = await durability.assess(repair=False)
        except StorageError as exc:
            print(f"  FAIL redis does not take writes: {exc}")
            return 1
    if verdict.warning:
        print(f"  warning: {verdict.warning}")
    if verdict.problem:
        print(f"  FAIL {verdict.problem}")
        return 1
    return 0


def _accept_store(args: argparse.Namespace, settings: Settings) -> int:
    async def accept() -> str:
        runtime = Runtime.from_settings(settings)
        async with runtime.opened():
            return await runtime.durability.accept()

    epoch = asyncio.run(accept())
    print(f"Redis now serves as epoch {epoch}: every instance takes it within a second.")
    return 0


def _db(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_db_async(args.action, Runtime.from_settings(settings)))


async def _db_async(action: str, runtime: Runtime) -> int:
    done = 0
    for backend in runtime.storage.backends.values():
        await backend.open()
        try:
            said = await (backend.upgrade_schema() if action == "upgrade" else backend.about())
        finally:
            await backend.close()
        if said is not None:
            done += 1
            print(f"{backend.describe()}: {said}" if action == "status" else said)
    if not done:
        print("No configured backend has a schema (set PARLOUR_*_BACKEND=postgres).")
    return 0
