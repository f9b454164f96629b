"""A ceiling on the size of a request's headers, checked before any of them is parsed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from parlour.web.errors import problem

MAX_HEADER_BYTES = 32 * 1024
"""A request's path, query and header names and values together. Browsers send a few KiB;
nginx's default buffers hold 32 KiB. The server in front may allow more, so Parlour checks."""


class HeaderLimit:
    """Answers 431 to a request with more than :data:`MAX_HEADER_BYTES` of headers, before any
    of them (a giant cookie, say) is parsed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = len(scope["raw_path"] if scope.get("raw_path") else scope["path"])
            size += len(scope["query_string"])
            size += sum(len(name) + len(value) for name, value in scope["headers"])
            if size > MAX_HEADER_BYTES:
                message = (
                    f"The request's address and headers are {size // 1024} KiB; Parlour takes "
                    f"up to {MAX_HEADER_BYTES // 1024} KiB. Clearing this site's cookies may help."
                )
                answer = await problem(Request(scope), 431, "headers_too_large", message)
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
