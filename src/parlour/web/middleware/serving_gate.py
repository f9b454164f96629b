"""The gate that stops the app serving from a Redis that lost (or may evict) its durable data
(``storage/durability.py``; ``/readyz`` in ``web/health.py`` says why)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from parlour.storage.durability import Durability
from parlour.web.middleware.hosts import MACHINE_PATHS

_REFUSAL = (
    b"Parlour cannot take bookings right now: its data store needs attention from the people "
    b"who run this site. Nothing was changed. Please try again later.\n"
)


class ServingGate:
    """Answers 503 to every request but the machine endpoints while the durable data on Redis
    is lost or at risk of eviction (the reason is on /readyz and in the log, not shown to
    visitors)."""

    def __init__(self, app: ASGIApp, *, durability: Durability) -> None:
        self.app = app
        self.durability = durability

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.durability.verdict.problem
            and scope["path"] not in MACHINE_PATHS
        ):
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(_REFUSAL)).encode()),
                        (b"retry-after", b"30"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _REFUSAL})
            return
        await self.app(scope, receive, send)
