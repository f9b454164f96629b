"""Every request's id, its log line in JSON mode, and its count and time by route template."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parlour.logs import request_id
from parlour.web.metrics import Metrics

log = logging.getLogger("parlour.requests")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestMetrics:
    """Gives every request an id (kept from X-Request-ID when it is a sane one), logs it in JSON
    mode, and counts and times it by route template (never by raw path: no unbounded labels)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, log_requests: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Per request, so written for speed (this middleware cost 13% of a session-only page,
        # measured, before): no header dict, no UUID object, children of labels cached.
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        text = incoming.decode("latin-1")
        current = text if _REQUEST_ID.fullmatch(text) else os.urandom(16).hex()
        header = (b"x-request-id", current.encode("latin-1"))
        token = request_id.set(current)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            method = scope["method"] if scope["method"] in _METHODS else "other"  # bounded labels
            self.metrics.count_request(route, method, status, elapsed)
            if self.log_requests:
                log.info("%s %s %s %.1f ms", scope["method"], route, status, elapsed * 1000)
            request_id.reset(token)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    return f"{scope.get('root_path', '')}{path}" if scope.get("root_path") else str(path)
