"""``parlour tenant``: the salons of a multi-tenant deployment (``PARLOUR_TENANCY=multi``), and
``parlour demo --tenant S``. The work is :mod:`parlour.services.operations`'s; every change is
written to the platform's audit log, the actor ``cli``. docs/tenancy.md walks through them."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from parlour.cli.common import EXIT_CONFIGURATION, EXIT_FAILED, Commands
from parlour.config import Settings
from parlour.errors import InvalidInput
from parlour.runtime import Runtime
from parlour.services.demo import seed
from parlour.services.operations import CLI, Operations, Usage
from parlour.services.tenants import Salon, Status

_MULTI_ONLY = (
    "parlour: salons are kept only with PARLOUR_TENANCY=multi (and PARLOUR_PLATFORM_DOMAIN); "
    "this deployment serves one salon. See docs/tenancy.md."
)


def add_commands(commands: Commands) -> None:
    tenant = commands.add_parser(
        "tenant",
        help="create, list, suspend, export and erase salons (PARLOUR_TENANCY=multi)",
        description="The salons of a multi-tenant deployment. Each change is audited in the "
        "platform's log. See docs/tenancy.md.",
    )
    actions = tenant.add_subparsers(title="actions", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        help="add a salon and its owner's admin account",
        description="Add a salon, served at SLUG.<platform domain>, and its owner's admin "
        "account. The password is read from standard input with --password-stdin, or asked "
        "for twice in a terminal. With --adopt the salon keeps this deployment's single-salon "
        "data: its staff stay logged in and its manage links keep working (an owner account "
        "that exists already is kept, and then no password is asked).",
    )
    _slug(create)
    create.add_argument("--name", required=True)
    create.add_argument("--owner-email", required=True)
    create.add_argument("--password-stdin", action="store_true")
    create.add_argument("--adopt", action="store_true")
    create.set_defaults(command=_create)

    listing = actions.add_parser("list", help="every salon, with its status, hosts and usage")
    listing.set_defaults(command=_list)

    for name, text in (
        ("suspend", "stop a salon taking bookings and its staff logging in; nothing is lost"),
        ("resume", "let a suspended salon take bookings again"),
    ):
        action = actions.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}.")
        _slug(action)
        action.set_defaults(command=_suspend if name == "suspend" else _resume)

    export = actions.add_parser(
        "export",
        help="write a salon's data to a JSON-lines file",
        description="Write every item of the salon to FILE as `parlour export` does, its "
        "namespaces without the salon's name: `parlour import FILE` reads it into a "
        "single-salon deployment. The file is readable by its owner only.",
    )
    _slug(export)
    export.add_argument("file", type=Path)
    export.set_defaults(command=_export)

    restore = actions.add_parser(
        "import",
        help="read a salon's export into a salon, never overwriting",
        description="Read FILE (written by `parlour tenant export`, or a single-salon "
        "deployment's `parlour export`) into salon S, never overwriting an item it has: to "
        "restore a salon, or to move one here from another deployment.",
    )
    _slug(restore)
    restore.add_argument("file", type=Path)
    restore.set_defaults(command=_import)

    erase = actions.add_parser(
        "erase",
        help="remove every key and row of a salon, then the salon",
        description="Remove every item of every namespace of the salon, then its record and "
        "domains, and check by a scan that nothing is left. Other salons are untouched. "
        "Asks you to type the slug, unless --yes. Export first if you may need the data.",
    )
    _slug(erase)
    erase.add_argument("--yes", action="store_true", help="do not ask")
    erase.set_defaults(command=_erase)

    domain = actions.add_parser(
        "domain",
        help="serve a salon at a domain of its own, or stop",
        description="Serve the salon at HOST as well as at SLUG.<platform domain> (point the "
        "domain's DNS at this deployment first), or stop serving it there.",
    )
    domain.add_argument("change", choices=["add", "remove"])
    _slug(domain)
    domain.add_argument("--host", required=True)
    domain.set_defaults(command=_domain)


def _slug(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--slug", required=True, metavar="S")


def _run(settings: Settings, work: Callable[[Operations, Runtime], Awaitable[int]]) -> int:
    if settings.tenancy != "multi":
        print(_MULTI_ONLY, file=sys.stderr)
        return EXIT_CONFIGURATION

    async def run() -> int:
        runtime = Runtime.from_settings(settings)
        async with runtime.opened():
            assert runtime.operations is not None  # refused above with one salon
            return await work(runtime.operations, runtime)

    return asyncio.run(run())


def _password(args: argparse.Namespace) -> str | None:
    """The password given, ``None`` if none was (adopting: the owner's account may be there;
    if it is not, creating the salon says so)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty() and not args.adopt:
        password = getpass.getpass("Password for the owner's account: ")
        if getpass.getpass("The same password again: ") != password:
            raise SystemExit("parlour: the two passwords differ; nothing was created")
        return password
    return None


def _create(args: argparse.Namespace, settings: Settings) -> int:
    if settings.tenancy != "multi":
        print(_MULTI_ONLY, file=sys.stderr)
        return EXIT_CONFIGURATION
    password = _password(args)
    if password is None and not args.adopt:
        print(
            "parlour: standard input is not a terminal: pass --password-stdin to read the "
            "owner's password from it",
            file=sys.stderr,
        )
        return EXIT_CONFIGURATION

    async def create(operations: Operations, runtime: Runtime) -> int:
        try:
            salon = await operations.create(
                args.slug, args.name, args.owner_email, password, actor=CLI, adopt=args.adopt
            )
        except InvalidInput as exc:
            if password is None and "password" in exc.fields:
                print(f"parlour: {exc.fields['password']} (--password-stdin)", file=sys.stderr)
                return EXIT_FAILED
            raise
        assert runtime.salons is not None
        kept = " (keeping this deployment's data)" if salon.adopted else ""
        print(f"Created salon {salon.slug}{kept}, served at {_address(runtime, salon)}.")
        owner = await runtime.salons.services(salon).core.accounts.get(salon.owner_email)
        role = "no account" if owner is None else owner.role
        print(f"Owner: {salon.owner_email} ({role}).")
        return 0

    return _run(settings, create)


def _address(runtime: Runtime, salon: Salon) -> str:
    assert runtime.tenants is not None
    return f"{salon.slug}.{runtime.tenants.domain}"


def _list(args: argparse.Namespace, settings: Settings) -> int:
    async def listing(operations: Operations, runtime: Runtime) -> int:
        salons = await operations.tenants.all()
        if not salons:
            print("No salons yet: add one with `parlour tenant create`.")
            return 0
        print(
            f"{'SLUG':<20} {'STATUS':<10} {'BOOKINGS':>8} {'STAFF':>5} {'BYTES':>10} "
            f"{'MESSAGES':>8}  NAME / HOSTS"
        )
        for salon in salons:
            usage: Usage = await operations.usage(salon)
            hosts = ", ".join((_address(runtime, salon), *salon.hosts))
            adopted = " (adopted)" if salon.adopted else ""
            print(
                f"{salon.slug:<20} {salon.status.value:<10} {usage.bookings:>8} "
                f"{usage.staff:>5} {usage.stored_bytes:>10} {usage.messages:>8}  "
                f"{salon.name}{adopted} / {hosts}"
            )
        return 0

    return _run(settings, listing)


def _suspend(args: argparse.Namespace, settings: Settings) -> int:
    async def suspend(operations: Operations, runtime: Runtime) -> int:
        await operations.set_status(args.slug, Status.SUSPENDED, actor=CLI)
        print(f"Suspended {args.slug}: it takes no bookings and its staff cannot log in.")
        return 0

    return _run(settings, suspend)


def _resume(args: argparse.Namespace, settings: Settings) -> int:
    async def resume(operations: Operations, runtime: Runtime) -> int:
        await operations.set_status(args.slug, Status.ACTIVE, actor=CLI)
        print(f"{args.slug} is active again.")
        return 0

    return _run(settings, resume)


def _export(args: argparse.Namespace, settings: Settings) -> int:
    async def export(operations: Operations, runtime: Runtime) -> int:
        try:
            count = await operations.export(args.slug, args.file, actor=CLI)
        except OSError as exc:
            print(f"parlour: cannot write {args.file}: {exc.strerror}", file=sys.stderr)
            return EXIT_FAILED
        print(f"Wrote {count:,} items of {args.slug} to {args.file}.")
        return 0

    return _run(settings, export)


def _import(args: argparse.Namespace, settings: Settings) -> int:
    async def restore(operations: Operations, runtime: Runtime) -> int:
        copied, present = await operations.import_file(args.slug, args.file, actor=CLI)
        print(f"Read {copied:,} items into {args.slug}; {present:,} were there already.")
        return 0

    return _run(settings, restore)


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    if settings.tenancy != "multi":
        print(_MULTI_ONLY, file=sys.stderr)
        return EXIT_CONFIGURATION
    if not args.yes:
        print(
            f"This removes every booking, account and message of {args.slug} for good. "
            "Type the salon's slug to go on: ",
            end="",
            flush=True,
        )
        if sys.stdin.readline().strip() != args.slug:
            print("parlour: that is not the slug; nothing was erased", file=sys.stderr)
            return EXIT_FAILED

    async def erase(operations: Operations, runtime: Runtime) -> int:
        erased = await operations.erase(args.slug, actor=CLI)
        if erased.remaining:
            left = ", ".join(f"{ns}: {n}" for ns, n in sorted(erased.remaining.items()))
            print(
                f"parlour: {erased.removed:,} items removed, but a scan still finds {left}; "
                f"run `parlour tenant erase --slug {args.slug}` again",
                file=sys.stderr,
            )
            return EXIT_FAILED
        print(f"Erased {args.slug}: {erased.removed:,} items removed; a scan finds nothing left.")
        return 0

    return _run(settings, erase)


def _domain(args: argparse.Namespace, settings: Settings) -> int:
    async def domain(operations: Operations, runtime: Runtime) -> int:
        if args.change == "add":
            salon = await operations.add_host(args.slug, args.host, actor=CLI)
        else:
            salon = await operations.remove_host(args.slug, args.host, actor=CLI)
        print(f"{salon.slug} is served at {', '.join((_address(runtime, salon), *salon.hosts))}.")
        return 0

    return _run(settings, domain)


def demo(slug: str, settings: Settings) -> int:
    """``parlour demo --tenant S``: the demo salon inside salon ``S`` (made if it is not there)."""

    async def fill(operations: Operations, runtime: Runtime) -> int:
        assert runtime.salons is not None
        salon = await operations.tenants.get(slug)
        if salon is None:
            salon = await operations.tenants.create(slug, "Willow & Ivy Spa", "admin@example.com")
            await runtime.core.audit.record(CLI, "tenant.create", slug, None, salon.to_json())
        services = runtime.salons.services(salon)
        notifier = services.core.notifier
        seeded = await seed(services.stores.kv, stage=None if notifier is None else notifier.stage)
        where = _address(runtime, salon)
        if seeded is None:
            print(f"The catalogue of {slug} is not empty; the demo salon was not added.")
        else:
            await runtime.core.audit.record(CLI, "tenant.demo", slug, None, {"seeded": True})
            print(
                f"Added the demo salon to {slug} ({where}). Staff login: "
                f"{seeded.admin_email} / {seeded.admin_password}"
            )
        return 0

    return _run(settings, fill)
