"""The JSON API under ``/api``, for programs: FastAPI, for its validation and OpenAPI document.

    app.py   build_api: the routes, their models and the application
    docs.py  ``/api/docs``: Swagger UI from this site's own files

:func:`build_api` (from ``app.py``) is what ``web/app.py`` mounts, one per app.
"""

from __future__ import annotations

from parlour.web.api.app import build_api

__all__ = ["build_api"]
