"""``/api/docs``: Swagger UI for the API's OpenAPI document, served entirely from this site.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script, which the
site's Content-Security-Policy (``web/middleware/security.py``) refuses and which would make
every visit to the docs a request to a third party. Here the assets come from the pinned
``swagger-ui-bundle-v2`` package and the start-up code is a static file of Parlour's own.
"""

from __future__ import annotations

from importlib.metadata import version

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.requests import Request
from swagger_ui_bundle import swagger_ui_path

from parlour.web.parts import parts
from parlour.web.templating import CachedStatic

ASSETS = "/docs/assets"


def install_docs(api: FastAPI) -> None:
    """Serve the docs page at ``/docs`` and Swagger UI's files under ``/docs/assets`` of ``api``
    (mounted at ``/api``); call with ``docs_url=None`` given to FastAPI."""
    bundle = version("swagger-ui-bundle-v2")

    async def docs(request: Request) -> HTMLResponse:
        static: dict[str, str] = parts(request).templates.env.globals["static"]  # type: ignore[assignment]
        start = static["api-docs.js"]
        root = request.scope.get("root_path", "")
        return HTMLResponse(
            "<!doctype html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f"<title>{api.title}</title>"
            f'<link rel="stylesheet" href="{root}{ASSETS}/swagger-ui.css?v={bundle}">'
            f'<script src="{root}{ASSETS}/swagger-ui-bundle.js?v={bundle}" defer></script>'
            f'<script src="{start}" defer></script>'
            "</head><body>"
            f'<div id="swagger-ui" data-openapi="{root}{api.openapi_url}"></div>'
            "</body></html>\n"
        )

    api.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
    api.mount(ASSETS, CachedStatic(directory=str(swagger_ui_path)), name="docs-assets")
