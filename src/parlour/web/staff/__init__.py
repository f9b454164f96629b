"""The staff area, for the salon's own people: the desk's calendar and bookings, the studio
(treatments, therapists, hours), clients, accounts and users, the outbox, the audit log, live
updates and setting up two-factor. Every page is guarded by its route group
(:mod:`parlour.web.staff.guards`), never by a call in its handler.

:func:`routes` is what ``web/app.py`` mounts for them; each call builds a new list.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from parlour.web.routing import segment
from parlour.web.staff import account, audit, clients, desk, live, outbox, studio, twofactor


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
                *account.routes,
                *clients.routes,
                *outbox.routes,
                *audit.routes,
                *twofactor.routes,
            ],
            page=True,
        ),
    ]
