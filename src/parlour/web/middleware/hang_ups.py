"""A client that hangs up before its request is read: counted, logged in one line, no error."""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

HUNG_UP = 499
"""The status a request is counted with when its client left before the answer (nginx's
"client closed request"): nobody receives it, and it is not Parlour's failure."""


class HangUps:
    """A client that hangs up before its request is read is no error of Parlour's.

    Starlette raises ``ClientDisconnect`` wherever the body is read (a form, a JSON body, an
    upload); unhandled, each became a 500 with a 3.5 KB traceback, so a script that hangs up on
    purpose filled the log and set off alerts on 5xx. Here, once for every route: one debug
    line, no traceback, and the request counted as :data:`HUNG_UP`. An answer the app still made
    after the hang-up (FastAPI turns the disconnect into a 400) is counted as :data:`HUNG_UP`
    too, since nobody received it. Sits just inside ``RequestMetrics``, which counts what it
    sends on.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gone = started = False

        async def receive_noting() -> Message:
            nonlocal gone
            message = await receive()
            # After the answer has begun, a disconnect is how a stream learns its reader left.
            gone = gone or (message["type"] == "http.disconnect" and not started)
            return message

        async def send_noting(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if gone:
                    _note(scope)
                    message = {**message, "status": HUNG_UP}
            await send(message)

        try:
            await self.app(scope, receive_noting, send_noting)
        except ClientDisconnect:
            if started:
                return
            _note(scope)
            # The server drops it (the connection is gone); the metrics on the way count it.
            await send({"type": "http.response.start", "status": HUNG_UP, "headers": []})
            await send({"type": "http.response.body", "body": b""})


def _note(scope: Scope) -> None:
    log.debug(
        "%s %.200s: the client hung up before its request was read", scope["method"], scope["path"]
    )
