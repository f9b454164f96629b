"""The JSON API under ``/api``, for programs: a FastAPI application (validation and an OpenAPI
document) with its Swagger UI page. :func:`build_api` builds one per app."""

from __future__ import annotations

from parlour.web.api.app import build_api

__all__ = ["build_api"]
