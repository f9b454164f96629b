"""The platform's own pages, at the bare platform domain of a multi-tenant deployment
(``PARLOUR_TENANCY=multi``): what Parlour is, sign-up for a new salon, the operator console.

    site.py      the platform's home page
    layout.py    the staff pages it borrows (login, two-factor) and error pages in its layout
    operators.py the operators' login, second step and two-factor set-up (the staff login's)
    console.py   the operator console (``/operator``): salons, usage and actions
    mail.py      the platform's own mail (``/operator/mail``), readable without an SMTP server
    signup.py    sign-up: the form, the link's page, and the owner's first login on the salon's
                 host (``/login/welcome/<token>``, the one route here served at a salon's host)

:func:`routes` is what ``web/app.py`` serves at the platform's host, :func:`salon_routes` what it
adds at every salon's (a new list each call).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from parlour.web.platform import console, mail, operators, signup, site
from parlour.web.routing import segment


def routes() -> list[BaseRoute]:
    return [
        *site.routes,
        *signup.routes,
        *operators.routes(),
        *console.landing,
        *segment("/operator", [*console.routes, *mail.routes], page=True),
    ]


def salon_routes() -> list[BaseRoute]:
    return [*signup.salon_routes]
