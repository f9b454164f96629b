"""Closing the files a submitted form left open (``web/forms.py`` reads forms)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.types import ASGIApp, Receive, Scope, Send


class CloseForms:
    """Closes the files of the form a request submitted (uploads spool to temporary files, and
    Starlette leaves closing them to the application), whatever route read it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            form = scope.get("state", {}).get("form")
            if isinstance(form, FormData):
                await form.close()
