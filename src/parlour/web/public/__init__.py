"""The public site, for clients and visitors: home, treatments, booking a time, reviews, the
gallery, a client's private booking link (``/booking/{token}``) and the login pages (staff log
in on a public page: password, second factor, a forgotten password).

:func:`routes` is what ``web/app.py`` mounts for them; each call builds a new list.
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
