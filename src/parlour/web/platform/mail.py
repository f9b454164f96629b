"""The platform's own mail at ``/operator/mail``: what it sent or keeps (a new salon's sign-up
link, its owner's welcome), readable as it is sent. Without ``PARLOUR_SMTP_URL`` nothing goes,
and this page is where an operator trying Parlour on one machine reads the link to follow."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.web.pages import render
from parlour.web.parts import core, parts
from parlour.web.platform.console import OPERATORS
from parlour.web.staff.guards import guarded
from parlour.web.staff.outbox import LOOKAHEAD_DAYS, SENT_HOURS, wall_clock

UTC = ZoneInfo("UTC")


async def mail(request: Request) -> Response:
    delivery = parts(request).delivery
    context = {
        "listed": await core(request).outboxes.listing(delivery.clock()),
        "when": wall_clock(UTC),
        "sending": [t.describe() for t in delivery.transports[:1]],
        "lookahead_days": LOOKAHEAD_DAYS,
        "sent_hours": SENT_HOURS,
    }
    return await render(request, "platform/mail.html", context)


async def message(request: Request) -> Response:
    found = await core(request).outboxes.find(
        request.path_params["namespace"], request.path_params["message_id"]
    )
    context = {
        "message": found,
        "rendered": parts(request).delivery.renderer.render(found),
        "when": wall_clock(UTC),
    }
    return await render(request, "platform/mail_message.html", context)


routes = guarded(  # under /operator
    OPERATORS,
    [
        Route("/mail", mail, methods=["GET"]),
        Route("/mail/{namespace}/{message_id}", message, methods=["GET"]),
    ],
)
