"""Who may reach a staff page: checked once, for every route of a group, before its handler.

Each module declares its staff routes in groups, each behind one guard: :data:`STAFF` for every
member of staff, :data:`ADMIN` for admins, :data:`ENROLLING` for the account pages an admin
reaches before setting up two-factor; web/app.py mounts them all under ``/admin``. The guard is
the route's own middleware, so it runs after Starlette has matched the path and the method: an
unknown ``/admin/...`` path is still a 404 and a wrong method a 405, to anyone, as they were when
each handler checked for itself (a guard on the mount itself would answer those with the login
page). A handler that needs the logged-in member of staff reads it with :func:`signed_in`.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from parlour.errors import Forbidden, LoginRequired, TwoFactorRequired
from parlour.services.sessions import SessionRecord
from parlour.web.pages import session_of
from parlour.web.parts import parts


class StaffOnly:
    """Lets a logged-in member of staff through; raises ``LoginRequired`` (a redirect to the
    login page, or 401 for JSON), ``TwoFactorRequired`` for an admin without a second factor
    under PARLOUR_REQUIRE_2FA (except on the pages that set it up: ``enrolling``), and
    ``Forbidden`` for staff on an ``admin`` page."""

    def __init__(self, app: ASGIApp, *, admin: bool = False, enrolling: bool = False) -> None:
        self.app = app
        self.admin = admin
        self.enrolling = enrolling

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        record = await session_of(request).load()
        if record is None:
            raise LoginRequired
        required = record.role == "admin" and parts(request).settings.require_2fa
        if required and not record.two_factor and not self.enrolling:
            raise TwoFactorRequired
        if self.admin and record.role != "admin":
            raise Forbidden
        await self.app(scope, receive, send)


STAFF = (Middleware(StaffOnly),)
ADMIN = (Middleware(StaffOnly, admin=True),)
ENROLLING = (Middleware(StaffOnly, enrolling=True),)


def guarded(middleware: Sequence[Middleware], routes: Sequence[Route]) -> list[Route]:
    """``routes``, each behind ``middleware``, which runs once its path and method have matched
    (inside any ``max_body_size`` limit, before the handler). Called once per route list, where
    a module declares it: the routes are shared by every app built in the process."""
    for route in routes:
        for cls, args, kwargs in reversed(middleware):
            route.app = cls(route.app, *args, **kwargs)
    return list(routes)


def signed_in(request: Request) -> SessionRecord:
    """The member of staff a guarded route was let through for."""
    record = session_of(request).record
    if record is None:  # not behind a guard: not logged in
        raise LoginRequired
    return record
