"""Who may reach a staff page: checked once, for every route of a group, before its handler.

Each module declares its staff routes in groups, each behind one guard naming the area of
``services/roles.py`` it belongs to: :data:`STAFF` for the desk (and, until clients.py names
:data:`CLIENTS`, the client pages: every role reaches those except a therapist), :data:`CATALOGUE`
for treatments, prices, therapists and hours, :data:`SHOWCASE` for reviews and the gallery,
:data:`ADMIN` for admins, :data:`OWN` and :data:`ENROLLING` for one's own account (the latter
reached before setting up two-factor); web/app.py mounts them all under ``/admin``. The guard is
the route's own middleware, so it runs after Starlette has matched the path and the method: an
unknown ``/admin/...`` path is still a 404 and a wrong method a 405, to anyone, as they were when
each handler checked for itself (a guard on the mount itself would answer those with the login
page). A handler that needs the logged-in member of staff reads it with :func:`signed_in`.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from parlour.errors import Forbidden, LoginRequired, TwoFactorRequired
from parlour.services.roles import Area, may, role_of
from parlour.services.sessions import SessionRecord
from parlour.web.pages import session_of
from parlour.web.parts import core, parts


class StaffOnly:
    """Lets a logged-in member of staff through to a route of ``area`` if their role may use it
    (``services/roles.py``); raises ``LoginRequired`` (a redirect to the login page, or 401 for
    JSON), ``TwoFactorRequired`` for an admin without a second factor under PARLOUR_REQUIRE_2FA
    (except on the pages that set it up: ``enrolling``), and ``Forbidden`` for a role the area
    refuses. ``area`` ``None``: any member of staff (their own account and two-factor).

    A therapist reaches only the desk routes of :data:`THERAPIST_ROUTES`, and of those only what
    is theirs: a ``{booking_id}`` route checks that the booking is their therapist's, and the
    calendar is always their therapist's (its ``resource`` is set here, whatever was asked)."""

    def __init__(self, app: ASGIApp, *, area: Area | None = None, enrolling: bool = False) -> None:
        self.app = app
        self.area = area
        self.enrolling = enrolling
        self.path = ""
        """The route's path template (set by :func:`guarded`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        record = await session_of(request).load()
        if record is None:
            raise LoginRequired
        role = role_of(record.role)
        required = role == "admin" and parts(request).settings.require_2fa
        if required and not record.two_factor and not self.enrolling:
            raise TwoFactorRequired
        if self.area is not None and not may(role, self.area):
            raise Forbidden
        if role == "therapist" and self.area is not None:
            if self.path == "/admin":  # today's list is everyone's: their calendar instead
                await RedirectResponse("/admin/calendar", 303)(scope, receive, send)
                return
            scope = await _own_only(request, scope, self.path)
        await self.app(scope, receive, send)


THERAPIST_ROUTES = frozenset(
    {
        "/admin",
        "/calendar",
        "/events",
        "/bookings/{booking_id}",
        "/bookings/{booking_id}/status",
        "/bookings/{booking_id}/reschedule",
    }
)
"""The desk routes a therapist may use, each for their own therapist's bookings only."""


async def _own_only(request: Request, scope: Scope, path: str) -> Scope:
    """``scope`` narrowed to a therapist's own bookings; ``Forbidden`` for anything else."""
    if path not in THERAPIST_ROUTES:
        raise Forbidden
    account = await core(request).accounts.get(signed_in(request).email)
    resource = account.resource_id if account is not None else ""
    if not resource:
        raise Forbidden
    booking_id = scope.get("path_params", {}).get("booking_id")
    mine = booking_id is None or (
        (await core(request).bookings.get(str(booking_id))).resource_id == resource
    )
    if not mine:
        raise Forbidden
    if path == "/calendar":
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "resource"]
        query.append(("resource", resource))
        scope = {**scope, "query_string": urlencode(query).encode("latin-1")}
    return scope


STAFF = (Middleware(StaffOnly, area=Area.DESK),)
"""Today, the calendar, bookings and clients' pages (the desk): every role but a therapist's
only on :data:`THERAPIST_ROUTES`."""
CLIENTS = (Middleware(StaffOnly, area=Area.CLIENTS),)
SHOWCASE = (Middleware(StaffOnly, area=Area.SHOWCASE),)
CATALOGUE = (Middleware(StaffOnly, area=Area.CATALOGUE),)
ADMIN = (Middleware(StaffOnly, area=Area.ADMIN),)
OWN = (Middleware(StaffOnly),)
"""One's own account: every role."""
ENROLLING = (Middleware(StaffOnly, enrolling=True),)


def guarded(middleware: Sequence[Middleware], routes: Sequence[Route]) -> list[Route]:
    """``routes``, each behind ``middleware``, which runs once its path and method have matched
    (inside any ``max_body_size`` limit, before the handler). Called once per route list, where
    a module declares it: the routes are shared by every app built in the process."""
    for route in routes:
        for cls, args, kwargs in reversed(middleware):
            route.app = cls(route.app, *args, **kwargs)
            if isinstance(route.app, StaffOnly):
                route.app.path = route.path
    return list(routes)


def signed_in(request: Request) -> SessionRecord:
    """The member of staff a guarded route was let through for."""
    record = session_of(request).record
    if record is None:  # not behind a guard: not logged in
        raise LoginRequired
    return record
