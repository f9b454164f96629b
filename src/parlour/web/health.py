"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from parlour.storage import Storage

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up. Says nothing about its backends: see /readyz."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Every backend answers; otherwise 503 naming the ones that do not."""
    storage: Storage = request.app.state.storage
    statuses = await storage.check()
    down = {status.backend: status.error for status in statuses if status.error}
    body = {
        "status": "unavailable" if down else "ok",
        "backends": {status.backend: status.error or "ok" for status in statuses},
    }
    return JSONResponse(body, status_code=503 if down else 200)
