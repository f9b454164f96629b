"""The ``parlour`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from parlour import __version__, migration
from parlour.config import NAMESPACES, Settings, env_name, load_secret_key, load_settings
from parlour.errors import ConfigurationError, ParlourError, StorageError
from parlour.logs import configure_logging
from parlour.mail import commands as mail_commands
from parlour.mail.delivery import mail_setup
from parlour.mail.transport import SmtpTransport
from parlour.migration import MOVABLE
from parlour.services.accounts import AccountError
from parlour.services.audit import Actor, AuditFilter
from parlour.services.core import Core
from parlour.services.demo import Seeded, seed
from parlour.services.login_throttle import windows
from parlour.services.ratelimit import Limiter, policies_from
from parlour.storage import Storage
from parlour.storage.durability import Durability
from parlour.storage.registry import Reach, check_settings, entry_for
from parlour.web.templating import duration

EXIT_FAILED = 1
EXIT_CONFIGURATION = 2

Command = Callable[[argparse.Namespace, Settings], int]


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

    serve = commands.add_parser("serve", help="run the web app", description="Run the web app.")
    serve.add_argument("--host", help=f"address to listen on (default: {env_name('host')})")
    serve.add_argument("--port", type=int, help=f"port to listen on (default: {env_name('port')})")
    serve.add_argument(
        "--workers", type=int, default=1, metavar="N", help="worker processes (default: 1)"
    )
    serve.add_argument(
        "--demo", action="store_true", help="first fill an empty store with a demo salon"
    )
    serve.set_defaults(command=_serve)

    demo = commands.add_parser(
        "demo",
        help="fill an empty store with a demo salon",
        description="Add a believable salon (treatments, two therapists, bookings, reviews, "
        "photos) and an admin account, if the catalogue is empty. Prints the login.",
    )
    demo.set_defaults(command=_demo)

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

    create_user = commands.add_parser(
        "create-user",
        help="add a member of staff who can log in",
        description="Add a staff account. The password is read from standard input with "
        "--password-stdin, or asked for twice when run in a terminal; it is never an argument, "
        "so it stays out of shell history and process lists.",
    )
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--role", required=True, choices=["admin", "staff"])
    create_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create_user.set_defaults(command=_create_user)

    for name, text in (
        ("migrate", "copy namespaces from one store to another, never overwriting"),
        ("verify", "compare two stores, key by key; exit 1 on any difference"),
    ):
        command = commands.add_parser(
            name, help=text, description=f"{text[0].upper()}{text[1:]}. {STORE_HELP}"
        )
        command.add_argument("--from", dest="source", required=True, metavar="STORE")
        command.add_argument("--to", dest="target", required=True, metavar="STORE")
        command.add_argument(
            "--namespace",
            action="append",
            choices=MOVABLE,
            metavar="N",
            help="only this namespace (repeat for more; default: all)",
        )
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
        command.add_argument(
            "--namespace",
            action="append",
            choices=MOVABLE,
            metavar="N",
            help="only this namespace (repeat for more; default: all)",
        )
        command.set_defaults(command=_export if name == "export" else _import)

    database = commands.add_parser(
        "db",
        help="manage the PostgreSQL schema",
        description="upgrade: apply the schema migrations this Parlour needs to every configured "
        "PostgreSQL (once per upgrade, for all instances; serve refuses to start on an older "
        "schema). status: print each one's server and schema version.",
    )
    database.add_argument("action", choices=["upgrade", "status"])
    database.set_defaults(command=_db)

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

    _add_mail_commands(commands)

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
    return parser


def _add_mail_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _two_factor(args: argparse.Namespace, settings: Settings) -> int:
    async def reset() -> str:
        async with Storage.from_settings(settings) as storage:
            core = Core.assemble(storage.kv)
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
        async with Storage.from_settings(settings) as storage:
            entries = Core.assemble(storage.kv).audit.entries(AuditFilter(since=args.since))
            with args.file.open("w", encoding="utf-8") as out:
                async for entry in entries:
                    out.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
                    count += 1
        return count

    count = asyncio.run(export())
    print(f"{count} entries written to {args.file}")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn  # noqa: PLC0415 - only `serve` needs the server

    from parlour.web.app import create_app  # noqa: PLC0415
    from parlour.web.deadlines import ReadDeadlines  # noqa: PLC0415

    if args.workers < 1:
        print("parlour: --workers must be 1 or more", file=sys.stderr)
        return EXIT_CONFIGURATION
    warning = workers_warning(settings, args.workers)
    if warning:
        print(f"parlour: warning: {warning}", file=sys.stderr)
    refusal = asyncio.run(_refusal_to_serve(settings))
    if refusal:
        print(f"parlour: {refusal}", file=sys.stderr)
        return EXIT_CONFIGURATION
    if args.demo:
        _demo(args, settings)
    host = args.host or settings.host
    port = args.port or settings.port
    # Links use the address served on (unless PARLOUR_PUBLIC_ORIGIN says otherwise), and so does
    # each worker process, which reads its settings from the environment.
    settings = settings.model_copy(update={"host": host, "port": port})
    os.environ[env_name("host")], os.environ[env_name("port")] = host, str(port)
    options = {
        "host": host,
        "port": port,
        "log_level": settings.log_level,
        "proxy_headers": False,  # X-Forwarded-For is judged by PARLOUR_TRUSTED_PROXIES instead
        "access_log": settings.log_format != "json",  # in JSON, Parlour logs each request itself
        # uvicorn's httptools protocol with deadlines for a request to arrive (web/deadlines.py)
        "http": functools.partial(
            ReadDeadlines,
            header_timeout=settings.request_header_timeout,
            body_timeout=settings.request_body_timeout,
        ),
    }
    if settings.metrics_bind and args.workers > 1:
        print(
            "parlour: PARLOUR_METRICS_BIND needs --workers 1 (each worker keeps its own figures "
            "and only one can listen on the address); use PARLOUR_METRICS_TOKEN instead",
            file=sys.stderr,
        )
        return EXIT_CONFIGURATION
    if settings.metrics_bind:
        from parlour.web.metrics_access import serve_with_metrics_listener  # noqa: PLC0415

        serve_with_metrics_listener(create_app(settings), options, settings.metrics_bind)
    elif args.workers == 1:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
    else:
        uvicorn.run(
            "parlour.web.app:app_from_environment",
            factory=True,
            workers=args.workers,
            **options,  # type: ignore[arg-type]
        )
    return 0


_SHARED_STATE = ("sessions", "ratelimit")


def workers_warning(settings: Settings, workers: int) -> str | None:
    """What goes wrong when several workers keep per-process state, or ``None``."""
    per_process = [entry_for(name, settings).reach is Reach.PROCESS for name in _SHARED_STATE]
    local = [name for name, alone in zip(_SHARED_STATE, per_process, strict=True) if alone]
    if workers < 2 or not local:
        return None
    return (
        f"{' and '.join(local)} live in each worker's memory, so with --workers {workers} a login "
        "holds only on the worker that made it and each worker counts rate limits on its own; "
        "set REDIS_URL or PARLOUR_SESSIONS_BACKEND/PARLOUR_RATELIMIT_BACKEND=postgres (or "
        "PARLOUR_SESSIONS_BACKEND=sqlite for sessions on one host)"
    )


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    async def fill() -> Seeded | None:
        async with Storage.from_settings(settings) as storage:
            core = Core.assemble(storage.kv, mail=mail_setup(settings, load_secret_key(settings)))
            return await seed(
                storage.kv, stage=None if core.notifier is None else core.notifier.stage
            )

    seeded = asyncio.run(fill())
    if seeded is None:
        print("The catalogue is not empty; the demo salon was not added.")
    else:
        print(f"Added the demo salon. Staff login: {seeded.admin_email} / {seeded.admin_password}")
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    print("Configuration:")
    for name, value in settings.describe():
        print(f"  {name}={value}")
    print("\nNamespaces:")
    for namespace in NAMESPACES:
        print(f"  {namespace:<12} {settings.backend_for(namespace)}")
    return asyncio.run(_connect(settings))


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
    async with Storage.from_settings(settings) as storage:
        try:
            accounts = Core.assemble(storage.kv).accounts
            user = await accounts.create_user(email, role, password)
        except AccountError as exc:
            print(f"parlour: {exc}", file=sys.stderr)
            return EXIT_FAILED
    print(f"Created {user.role} account {user.email}.")
    return 0


STORE_HELP = (
    "A STORE is memory (the memory backend's snapshot), sqlite, sqlite:PATH, file:PATH (JSON "
    "lines), a redis:// URL, or configured (what the settings give each namespace). See "
    "docs/migration.md."
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
    policies = policies_from(settings)
    found = [w for w in windows(args.email, args.ip) if args.policy in (None, w.policy)]
    async with Storage.from_settings(settings) as storage:
        limiter = Limiter(storage.ratelimits, policies, load_secret_key(settings))
        for window in found:
            if args.action == "clear":
                await limiter.clear(window.policy, window.identity)
                print(f"{window.label}: cleared")
                continue
            verdict = await limiter.peek(window.policy, window.identity)
            rate = policies[window.policy].rate
            used = f"{rate.limit - verdict.remaining}/{rate.limit} used in {rate}"
            state = (
                f"blocked for {duration(verdict.retry_after)}" if not verdict.allowed else "allowed"
            )
            print(f"{window.label}: {used}, {state}")
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.smtp_url:
        print(
            "parlour: PARLOUR_SMTP_URL is not set, so there is nothing to deliver through: "
            "messages stay in the outbox (/admin/outbox)",
            file=sys.stderr,
        )
        return EXIT_CONFIGURATION
    return asyncio.run(mail_commands.run_worker(settings))


def _mail_test(args: argparse.Namespace, settings: Settings) -> int:

    transport = SmtpTransport.from_settings(settings)
    if transport is None:
        print("parlour: PARLOUR_SMTP_URL is not set; nothing to send through", file=sys.stderr)
        return EXIT_CONFIGURATION
    return asyncio.run(mail_commands.send_test(settings, transport, args.to))


async def _refusal_to_serve(settings: Settings) -> str | None:
    """Why a backend's store cannot be served as it is (an old schema), or None. A server that
    is down now is no reason: the app starts, answers 503 and recovers when it is back."""
    for backend in Storage.from_settings(settings).backends.values():
        try:
            await backend.open()
            await backend.ready_to_serve()
        except ConfigurationError as exc:
            return str(exc)
        except StorageError:
            pass
        finally:
            await backend.close()
    return None


def _db(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_db_async(args.action, settings))


async def _db_async(action: str, settings: Settings) -> int:
    done = 0
    for backend in Storage.from_settings(settings).backends.values():
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


async def _connect(settings: Settings) -> int:
    print("\nBackends:")
    failed = 0
    for backend in Storage.from_settings(settings).backends.values():
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
    if not failed and settings.redis_url:
        failed += await _judge_redis(settings)
    failed += await mail_commands.connect_smtp(settings)
    return EXIT_FAILED if failed else 0


async def _judge_redis(settings: Settings) -> int:
    """Whether Redis takes writes and may hold what Parlour keeps there; 1 if not."""
    async with Storage.from_settings(settings) as storage:
        durability = Durability(storage, settings.data_dir)
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
        async with Storage.from_settings(settings) as storage:
            return await Durability(storage, settings.data_dir).accept()

    epoch = asyncio.run(accept())
    print(f"Redis now serves as epoch {epoch}: every instance takes it within a second.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
