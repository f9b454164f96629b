"""The platform's own pages, at the bare platform domain of a multi-tenant deployment
(``PARLOUR_TENANCY=multi``): what Parlour is, sign-up for a new salon, the operator console.

    site.py      the platform's home page

:func:`routes` is what ``web/app.py`` serves at the platform's host (a new list each call).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from parlour.web.platform import site


def routes() -> list[BaseRoute]:
    return [*site.routes]
