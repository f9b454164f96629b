"""Deadlines for a request to arrive, which uvicorn does not set: slow clients are cut off. And
a server that stops does not wait for an event stream, which never ends.

What uvicorn gives (read in its source, 0.34 to 0.55): ``timeout_keep_alive`` (5 s) closes a
connection idle *between* requests, and any byte received cancels it; ``limit_concurrency``
answers 503 once that many connections or tasks are open, which trickling sockets would earn
for everyone else; ``h11_max_incomplete_event_size`` bounds the size of a request's head under
h11 only, while httptools (what uvicorn runs when it is installed, as ``uvicorn[standard]``
does) has no such setting. Nothing bounds the *time* a request takes to arrive: a client that
connects and says nothing, sends its head a byte at a time, or announces a body and trickles
it, holds a socket and a file handle for as long as it likes (uvicorn issue 157 lists both
deadlines; neither was made). ASGI middleware cannot help with the head: the app is called
only once the head is whole.

:class:`ReadDeadlines` is uvicorn's httptools protocol with the two deadlines added: the head
of each request must arrive within ``header_timeout`` of its first byte (of the connection, for
the first request), and its body within ``body_timeout`` of the end of the head. A client whose
head is late is answered 408 (if it had begun one, and no earlier answer is still being written)
and its connection closed; one whose body is late has its connection closed, and the app, which
was reading that body, sees a hang-up (``HangUps``: one debug line, counted as 499). Writing a
408 there could interleave with an answer the app is about to send.

On a graceful stop uvicorn calls each connection's ``shutdown``: an idle one is closed, one
with an answer still being written is left to finish. The staff desk's live feed (an
``EventSource``, which asks for ``text/event-stream``) never finishes, so one open desk kept a
stopping server waiting for ever (``PARLOUR_SHUTDOWN_GRACE`` now bounds that wait for every
answer). Its connection is closed at once instead: the app sees the hang-up and ends the
stream, and the browser reconnects, to another instance behind the load balancer.

It leans on uvicorn's private protocol: the parser callbacks ``on_message_begin``,
``on_headers_complete`` and ``on_message_complete``, ``shutdown``, and ``transport``, ``loop``,
``cycle`` and the cycle's ``scope`` and ``response_complete``, all unchanged from 0.34
(pyproject's floor) to 0.55; ``tests/test_cli.py`` tests it against a real server, and CI
runs that file on the floor too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 51\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"The request took too long to arrive; please resend."
)


class ReadDeadlines(HttpToolsProtocol):
    """uvicorn's httptools protocol, with deadlines for a request's head and for its body.

    Pass it to uvicorn as ``http=functools.partial(ReadDeadlines, header_timeout=...,
    body_timeout=...)`` (a partial pickles, so ``--workers`` processes get it too).
    """

    def __init__(
        self, *args: Any, header_timeout: float, body_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout
        self._deadline: asyncio.TimerHandle | None = None
        self._reading = ""
        """What the deadline waits for: "head" or "body"; empty when none is set."""
        self._begun = False
        """Whether a byte of the current request has arrived."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._set("head", self._header_timeout)  # a connection that never says anything

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun = True
        if not self._deadline:  # the first request's head is timed from the connection
            self._set("head", self._header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._set("body", self._body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._begun = False
        self._cancel()  # what follows is the app's time, then uvicorn's keep-alive

    def handle_websocket_upgrade(self) -> None:
        self._cancel()  # the connection is the WebSocket protocol's from here
        super().handle_websocket_upgrade()

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and _streams_events(cycle.scope):
            self.transport.close()  # connection_lost tells the app, which ends the stream
            return
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _set(self, reading: str, seconds: float) -> None:
        self._cancel()
        self._reading = reading
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._reading = None, ""

    def _expired(self) -> None:
        reading, self._deadline = self._reading, None
        if self.transport.is_closing():
            return
        log.debug("%s: the request's %s did not arrive in time; closed", self.client, reading)
        idle = self.cycle is None or self.cycle.response_complete  # no answer being written
        if reading == "head" and self._begun and idle:
            self.transport.write(_TIMED_OUT)
        self.transport.close()


def _streams_events(scope: Any) -> bool:
    """Whether the request asked for an event stream (``EventSource`` always does)."""
    return any(
        name == b"accept" and b"text/event-stream" in value for name, value in scope["headers"]
    )
