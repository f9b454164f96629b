"""Liveness and readiness for load balancers and orchestrators, and the gate that stops the
app serving from a Redis that lost (or may evict) its durable data.

``/readyz`` is 200 only when every backend answers, Redis takes writes (a short-lived key per
namespace slot: a full Redis under ``noeviction`` or a read-only replica still answers ``PING``),
and the durable data on Redis is the data this deployment set up (``storage/durability.py``).
"""

from __future__ import annotations

import os
import socket

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from parlour.errors import StorageError
from parlour.web.parts import parts


async def healthz(request: Request) -> JSONResponse:
    """The process is up, and which one it is (behind a load balancer, which one answered).
    Says nothing about its backends: see /readyz."""
    return JSONResponse({"status": "ok", "instance": f"{socket.gethostname()}:{os.getpid()}"})


async def readyz(request: Request) -> JSONResponse:
    """Every backend answers and Redis is fit to serve; otherwise 503 naming what is not."""
    app_parts = parts(request)
    statuses = await app_parts.storage.check()
    backends = {status.backend: status.error or "ok" for status in statuses}
    durability = app_parts.durability
    if durability.judged and backends.get("redis") == "ok":
        try:
            await durability.probe_write()
            verdict = await durability.assess()
        except StorageError as exc:
            backends["redis"] = str(exc)
        else:
            if verdict.problem:
                backends["redis"] = verdict.problem
    down = any(state != "ok" for state in backends.values())
    body = {"status": "unavailable" if down else "ok", "backends": backends}
    return JSONResponse(body, status_code=503 if down else 200)


routes = [Route("/healthz", healthz), Route("/readyz", readyz)]
