"""Operators log in on the platform's host with the staff login's own pages and steps, served
here over the platform's accounts and sessions: ``/login`` and ``/logout``, the second step
``/login/code``, a forgotten password (``/login/forgot``), and setting up two-factor
(``/admin/account/two-factor``, where :class:`console.OperatorOnly` sends an operator without
it). ``/admin``, where the login lands by default, is the console here.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from parlour.web.public import auth, reset
from parlour.web.public import twofactor as login_code
from parlour.web.routing import segment
from parlour.web.staff import twofactor as enrolment


async def to_console(request: Request) -> Response:
    return RedirectResponse("/operator", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        *auth.routes,
        *segment("/login", [*reset.routes, *login_code.login_routes], page=True),
        Route("/admin", to_console, methods=["GET"]),
        *segment(
            "/admin",
            [*enrolment.routes, Route("/account", to_console, methods=["GET"])],
            page=True,
        ),
    ]
