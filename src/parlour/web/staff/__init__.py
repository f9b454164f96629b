"""The staff area, for the salon's own people: ``/admin`` and everything under it, each page
guarded by its route group (``guards.py``), never by a call in its handler.

    desk.py       the landing page, the day and week calendar, a booking, a new booking
    grid.py       the calendar's grid (a pure view helper of desk.py)
    live.py       ``/admin/events``: the calendar's live updates
    studio.py     treatments, therapists and rooms, the business profile, reviews, gallery
    clients.py    clients: history, notes, export, erasure, a new manage link
    account.py    one's own account and sessions, users, rate limits
    twofactor.py  setting up and turning off two-factor
    outbox.py     the outbox: every message, and a retry for those that need a person
    audit.py      audit(), the one call a route makes after a change, and the audit log page
    guards.py     StaffOnly, the guard of every route group
    confirm.py    ask_first/confirmed: a page that asks before a change

:func:`routes` is what ``web/app.py`` mounts for them (a new list each call); other names are
imported from the module that defines them.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from parlour.web.routing import segment
from parlour.web.staff import (
    account,
    audit,
    clients,
    closures,
    desk,
    live,
    outbox,
    studio,
    twofactor,
)


def routes() -> list[BaseRoute]:
    """The landing page ``/admin``, and every other staff page under the ``/admin`` mount."""
    return [
        *desk.landing,
        *segment(
            "/admin",
            [
                *desk.routes,
                *live.routes,
                *studio.routes,
                *closures.routes,
                *account.routes,
                *clients.routes,
                *outbox.routes,
                *audit.routes,
                *twofactor.routes,
            ],
            page=True,
        ),
    ]
