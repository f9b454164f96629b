"""/admin/outbox: every message, pending, sent, dead or held, readable as it will be sent, and a
retry button for those that need a person. Admins only: messages carry clients' details."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from parlour.errors import NotFound
from parlour.web.forms import submitted
from parlour.web.pages import redirect, render, session_of
from parlour.web.parts import core, parts
from parlour.web.staff.audit import audit
from parlour.web.staff.guards import ADMIN, guarded

LOOKAHEAD_DAYS = 7
"""How far ahead the waiting list reaches (``OutboxStore.listing``): later ones are scheduled."""
SENT_HOURS = 24
"""How far back the sent list reaches."""


def wall_clock(zone: ZoneInfo) -> Callable[[float], str]:
    """A timestamp as the salon's clock shows it, its zone named (as the public pages show
    times): the outbox's times were UTC while every other page used the salon's zone."""

    def shown(timestamp: float) -> str:
        return datetime.fromtimestamp(timestamp, zone).strftime("%a %-d %b %Y, %H:%M %Z")

    return shown


async def outbox(request: Request) -> Response:
    delivery = parts(request).delivery
    listed = await core(request).outboxes.listing(delivery.clock())
    business = await core(request).catalogue.business()
    context = {
        "business": business,
        "when": wall_clock(business.rules.zone),
        "lookahead_days": LOOKAHEAD_DAYS,
        "sent_hours": SENT_HOURS,
        "listed": listed,
        "sending": [t.describe() for t in delivery.transports[:1]],
        # The worker's figures are every salon's together: with many, none of a salon's page.
        "stats": delivery.stats if parts(request).runtime.salons is None else None,
        "now": delivery.clock(),
    }
    return await render(request, "admin/outbox.html", context)


async def message(request: Request) -> Response:
    found = await core(request).outboxes.find(
        request.path_params["namespace"], request.path_params["message_id"]
    )
    delivery = parts(request).delivery
    business = await core(request).catalogue.business()
    context = {
        "business": business,
        "when": wall_clock(business.rules.zone),
        "message": found,
        "namespace": request.path_params["namespace"],
        "rendered": delivery.renderer.render(found),
        "message_id": delivery.renderer.message_id(found),
    }
    return await render(request, "admin/outbox_message.html", context)


PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
)
"""The HTML of a message, framed by its own page: a message's styles are inline (mail clients
need them), which the pages' policy refuses, so the preview gets a policy of its own: no
script, nothing fetched, sandboxed, and framed only by Parlour's own page."""


async def message_html(request: Request) -> Response:
    found = await core(request).outboxes.find(
        request.path_params["namespace"], request.path_params["message_id"]
    )
    html = parts(request).delivery.renderer.render(found).html
    return HTMLResponse(
        html,
        headers={"content-security-policy": PREVIEW_POLICY, "x-frame-options": "SAMEORIGIN"},
    )


async def retry(request: Request) -> Response:
    form = await submitted(request)
    namespace, message_id = form.text("namespace", 32), form.text("message_id", 80)
    delivery = parts(request).delivery
    try:
        again = await core(request).outboxes.of(namespace).retry(message_id, delivery.clock())
    except NotFound:
        again = None
    if again is None:
        session_of(request).flash("That message is not dead or held any more; nothing to retry.")
    else:
        target = f"{namespace}/{again.id} to {', '.join(again.to)}"
        await audit(request, "outbox.retry", target, {"error": again.error}, {"state": "pending"})
        delivery.poke()
        session_of(request).flash(f"Message to {', '.join(again.to)} queued to be sent again.")
    return redirect("/admin/outbox")


routes = guarded(  # under /admin
    ADMIN,
    [
        Route("/outbox", outbox),
        Route("/outbox/retry", retry, methods=["POST"]),
        Route("/outbox/{namespace}/{message_id}", message),
        Route("/outbox/{namespace}/{message_id}/html", message_html),
    ],
)
