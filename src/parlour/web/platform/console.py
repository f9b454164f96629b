"""The operator console at ``/operator`` on the platform's host: every salon with its usage, and
the operator's actions on one (suspend, resume, export, erase, add a domain), each written to the
platform's audit log by ``services/operations.py``.

Operators are the platform's own accounts (``users@platform``: ``parlour create-user`` with
``PARLOUR_TENANCY=multi``), logged in at the platform's ``/login`` (``operators.py``), and must
have two-factor on: :class:`OperatorOnly` sends one without it to set it up first. A salon's
staff session is worth nothing here: it lives in that salon's ``sessions``, not the platform's.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from parlour.errors import Conflict, InvalidInput, LoginRequired, NotFound, TwoFactorRequired
from parlour.services.audit import Actor
from parlour.services.operations import Operations, Usage
from parlour.services.tenants import Salon, Status
from parlour.web.forms import submitted
from parlour.web.pages import redirect, render, session_of
from parlour.web.parts import parts
from parlour.web.staff.guards import guarded, signed_in

PAGE = 50
"""Salons listed per page (each one's usage is counted from its stores when shown)."""


class OperatorOnly:
    """Lets a logged-in operator with two-factor on through; one without two-factor is sent to
    set it up (``TwoFactorRequired``), anyone else to the login page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = await session_of(Request(scope, receive)).load()
        if record is None:
            raise LoginRequired
        if not record.two_factor:
            raise TwoFactorRequired
        await self.app(scope, receive, send)


OPERATORS = (Middleware(OperatorOnly),)


def operations(request: Request) -> Operations:
    """The runtime's, built once (the platform's pages are served only with many salons)."""
    found = parts(request).runtime.operations
    assert found is not None
    return found


def _actor(request: Request) -> Actor:
    me = signed_in(request)
    return Actor(me.user_id, me.email, session_of(request).ip)


async def console(request: Request) -> Response:
    ops = operations(request)
    everyone = await ops.tenants.all()
    number = (
        int(request.query_params["page"]) if request.query_params.get("page", "").isdigit() else 1
    )
    number = max(1, number)
    shown = everyone[(number - 1) * PAGE : number * PAGE]
    rows: list[tuple[Salon, Usage]] = [(salon, await ops.usage(salon)) for salon in shown]
    context = {
        "rows": rows,
        "total": len(everyone),
        "number": number,
        "more": len(everyone) > number * PAGE,
        "domain": ops.tenants.domain,
    }
    return await render(request, "platform/console.html", context)


async def _salon(request: Request) -> Salon:
    found = await operations(request).tenants.get(request.path_params["slug"])
    if found is None:
        raise NotFound("There is no such salon. It may have been erased.")
    return found


async def salon_page(
    request: Request, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    salon = await _salon(request)
    ops = operations(request)
    context = {
        "salon": salon,
        "usage": await ops.usage(salon),
        "domain": ops.tenants.domain,
        "errors": errors or {},
    }
    return await render(request, "platform/console_salon.html", context, status=status)


async def suspend(request: Request) -> Response:
    return await _set_status(
        request, Status.SUSPENDED, "suspended: its pages say it is not taking bookings"
    )


async def resume(request: Request) -> Response:
    return await _set_status(request, Status.ACTIVE, "taking bookings again")


async def _set_status(request: Request, status: Status, said: str) -> Response:
    await submitted(request)
    salon = await _salon(request)
    await operations(request).set_status(salon.slug, status, actor=_actor(request))
    session_of(request).flash(f"{salon.name} is {said}.")
    return redirect(f"/operator/salons/{salon.slug}")


async def add_domain(request: Request) -> Response:
    form = await submitted(request)
    salon = await _salon(request)
    host = form.text("host", 300)
    try:
        await operations(request).add_host(salon.slug, host, actor=_actor(request))
    except InvalidInput as exc:
        return await salon_page(request, {"host": next(iter(exc.fields.values()))}, 400)
    except Conflict as exc:
        return await salon_page(request, {"host": str(exc)}, 409)
    session_of(request).flash(f"{salon.name} is now served at {host.strip().lower()} too.")
    return redirect(f"/operator/salons/{salon.slug}")


async def export(request: Request) -> Response:
    salon = await _salon(request)
    exported = operations(request).exporting(salon.slug, actor=_actor(request))
    # The first line read here, before the answer starts: the export is in the audit log (or
    # the error page says why not) before a byte of it is sent.
    first = await anext(exported, None)

    async def lines() -> AsyncIterator[bytes]:
        if first is None:
            return
        yield (first + "\n").encode()
        async for line in exported:
            yield (line + "\n").encode()

    name = re.sub(r"[^a-z0-9-]", "", salon.slug)
    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={
            "content-disposition": f'attachment; filename="parlour-{name}.jsonl"',
            "cache-control": "no-store",
        },
    )


async def erase(request: Request) -> Response:
    form = await submitted(request)
    salon = await _salon(request)
    typed = form.text("confirm", 100).strip().lower()
    if typed != salon.slug:
        why = f"Type the salon's address, {salon.slug}, to erase it. Nothing was erased."
        return await salon_page(request, {"confirm": why}, 400)
    erased = await operations(request).erase(salon.slug, actor=_actor(request))
    left = (
        ""
        if not erased.remaining
        else f" A scan still found {sum(erased.remaining.values())} items."
    )
    session_of(request).flash(
        f"{salon.name} ({salon.slug}) is erased: {erased.removed} items removed.{left}"
    )
    return redirect("/operator")


routes = guarded(  # under /operator
    OPERATORS,
    [
        Route("/salons/{slug}", salon_page, methods=["GET"]),
        Route("/salons/{slug}/suspend", suspend, methods=["POST"]),
        Route("/salons/{slug}/resume", resume, methods=["POST"]),
        Route("/salons/{slug}/domains", add_domain, methods=["POST"]),
        Route("/salons/{slug}/export", export, methods=["GET"]),
        Route("/salons/{slug}/erase", erase, methods=["POST"]),
    ],
)
landing = guarded(OPERATORS, [Route("/operator", console, methods=["GET"])])
