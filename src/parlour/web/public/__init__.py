"""The public site, for clients and visitors (staff log in on a public page too).

    site.py          home, treatments, booking (treatment, time, details), reviews, gallery
    booking_days.py  the choose-a-time page's month and therapist choice
    manage.py        a client's private link to a booking (``/booking/{token}``)
    auth.py          ``/login`` and ``/logout``
    twofactor.py     the second login step (``/login/code``)
    reset.py         a forgotten password (``/login/forgot``, ``/login/reset/{token}``)

:func:`routes` is what ``web/app.py`` mounts for them (a new list each call); other names are
imported from the module that defines them.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from parlour.web.public import auth, manage, reset, site, twofactor
from parlour.web.routing import segment


def routes() -> list[BaseRoute]:
    """Every public page, each group under its first segment (``web/routing.py``)."""
    return [
        *site.routes,
        *segment("/book", site.booking_routes, page=True),
        *segment("/gallery", site.photo_routes, page=True),
        *segment("/booking", manage.routes),
        *auth.routes,
        *segment("/login", [*reset.routes, *twofactor.login_routes], page=True),
    ]
