"""The ``RateLimit`` headers of the decision a route made (``web/ratelimit.py``), on its
response."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parlour.web.ratelimit import decision_headers


class RateLimitHeaders:
    """Adds the RateLimit headers of the decision a route made to its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            decision = scope.get("state", {}).get("ratelimit")
            if message["type"] == "http.response.start" and decision is not None:
                headers = MutableHeaders(scope=message)
                for name, value in decision_headers(decision).items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
