"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import os
import socket

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from parlour.web.parts import parts


async def healthz(request: Request) -> JSONResponse:
    """The process is up, and which one it is (behind a load balancer, which one answered).
    Says nothing about its backends: see /readyz."""
    return JSONResponse({"status": "ok", "instance": f"{socket.gethostname()}:{os.getpid()}"})


async def readyz(request: Request) -> JSONResponse:
    """Every backend answers; otherwise 503 naming the ones that do not."""
    statuses = await parts(request).storage.check()
    down = any(status.error for status in statuses)
    body = {
        "status": "unavailable" if down else "ok",
        "backends": {status.backend: status.error or "ok" for status in statuses},
    }
    return JSONResponse(body, status_code=503 if down else 200)


routes = [Route("/healthz", healthz), Route("/readyz", readyz)]
