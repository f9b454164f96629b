"""``parlour serve`` (the web app under uvicorn) and ``parlour demo``."""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys

from parlour.cli import tenant
from parlour.cli.common import EXIT_CONFIGURATION, Commands
from parlour.config import Settings, env_name
from parlour.errors import ConfigurationError, StorageError
from parlour.runtime import Runtime
from parlour.services.demo import Seeded, seed
from parlour.storage.registry import Reach, entry_for


def add_commands(commands: Commands) -> None:
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
    demo.add_argument(
        "--tenant", metavar="S", help="inside salon S (PARLOUR_TENANCY=multi; made if missing)"
    )
    demo.set_defaults(command=_demo)


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
        # On SIGTERM, requests in flight get this long; then uvicorn ends them. Without it, one
        # endless answer kept the process (and a rolling deploy) waiting for ever.
        "timeout_graceful_shutdown": settings.shutdown_grace,
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


async def _refusal_to_serve(settings: Settings) -> str | None:
    """Why a backend's store cannot be served as it is (an old schema), or None. A server that
    is down now is no reason: the app starts, answers 503 and recovers when it is back."""
    for backend in Runtime.from_settings(settings).storage.backends.values():
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


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "tenant", None):  # `serve --demo` has no --tenant
        return tenant.demo(args.tenant, settings)
    if settings.tenancy == "multi":
        print("parlour: with many salons, name one: parlour demo --tenant S", file=sys.stderr)
        return EXIT_CONFIGURATION

    async def fill() -> Seeded | None:
        runtime = Runtime.from_settings(settings)
        async with runtime.opened() as core:
            return await seed(
                runtime.home.stores.kv, stage=None if core.notifier is None else core.notifier.stage
            )

    seeded = asyncio.run(fill())
    if seeded is None:
        print("The catalogue is not empty; the demo salon was not added.")
    else:
        print(f"Added the demo salon. Staff login: {seeded.admin_email} / {seeded.admin_password}")
    return 0
