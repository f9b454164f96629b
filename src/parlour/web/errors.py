"""Every error a person can meet, mapped to a response in one place.

Pages get an HTML page that says what happened and what to do; the JSON API gets
``{"error": code, "message": ...}``. Services raise domain and storage errors and never HTTP ones.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi.exceptions import RequestValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from parlour.domain.slots import Slot
from parlour.errors import (
    Busy,
    Conflict,
    CsrfRejected,
    Forbidden,
    InvalidInput,
    LoginRequired,
    NotFound,
    RateLimited,
    SlotTaken,
    StorageUnavailable,
    TwoFactorRequired,
)
from parlour.web.contact import ERROR_PAGE_WAIT, business_for_page
from parlour.web.login_throttle import unchecked
from parlour.web.parts import core, parts
from parlour.web.ratelimit import rate_limit_headers, whole_seconds
from parlour.web.templating import duration

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "login_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
    503: "unavailable",
}
_TITLES = {
    400: "That request could not be read",
    401: "Please log in",
    403: "Not allowed",
    404: "Page not found",
    405: "That is not something this page does",
    409: "That cannot be done now",
    413: "That is too large",
    422: "Some details need another look",
    429: "Too many attempts",
    431: "That request is too large",
    503: "Briefly unavailable",
}


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


async def problem(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    action: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """An error answer in the form the client reads: JSON for the API, a page for people."""
    if wants_json(request):
        return JSONResponse(
            {"error": code, "message": message, **(extra or {})}, status, headers=headers
        )
    templates = parts(request).templates
    context = {
        "title": _TITLES.get(status, "Something went wrong"),
        "message": message,
        "business": await business_for_page(request, wait=ERROR_PAGE_WAIT),
    }
    return templates.TemplateResponse(
        request, "error.html", {**context, "action": action}, status_code=status, headers=headers
    )


def install_error_handlers(app: Starlette) -> None:
    """Register every handler on ``app`` (the site, and the API application under it)."""

    async def rate_limited(request: Request, exc: RateLimited) -> Response:
        headers = rate_limit_headers(exc.policy, exc.limit, exc.window, 0, exc.retry_after)
        headers["Retry-After"] = str(whole_seconds(exc.retry_after))
        return await problem(
            request,
            429,
            "rate_limited",
            f"Too many attempts just now. Please try again in {duration(exc.retry_after)}.",
            headers=headers,
            extra={"retry_after": whole_seconds(exc.retry_after)},
        )

    async def busy(request: Request, exc: Busy) -> Response:
        await unchecked(request)  # a password never checked is no failed guess
        return await problem(
            request,
            503,
            "busy",
            str(exc),
            headers={"Retry-After": str(exc.retry_after)},
            action={"href": str(request.url), "label": "Try again"},
            extra={"retry_after": exc.retry_after},
        )

    async def unavailable(request: Request, exc: StorageUnavailable) -> Response:
        log.warning("503 for %s %s: %s", request.method, request.url.path, exc)
        return await problem(
            request,
            503,
            "unavailable",
            "We cannot reach our booking records right now. Nothing was changed; please try "
            "again in a moment.",
            headers={"Retry-After": "5"},
            action={"href": str(request.url), "label": "Try again"},
        )

    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if wants_json(request):
            return await problem(request, 401, "login_required", "Log in to do this.")
        destination = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': destination})}", status_code=303)

    async def two_factor_required(request: Request, exc: TwoFactorRequired) -> Response:
        if wants_json(request):
            return await problem(
                request, 403, "forbidden", "Set up two-factor on your account first."
            )
        return RedirectResponse("/admin/account/two-factor", status_code=303)

    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return await problem(
            request, 403, "forbidden", "Your account's role does not allow this. Ask an admin."
        )

    async def csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
        log.info("CSRF refused %s %s: %s", request.method, request.url.path, exc)
        referer = request.headers.get("referer", "")
        same_site = referer.startswith(str(request.base_url))
        return await problem(
            request,
            403,
            "csrf",
            "This form could not be accepted: it has expired, or it was sent from another site. "
            "Reload the page and try again.",
            action={"href": referer if same_site else "/", "label": "Reload the page"},
            extra={"reason": str(exc)},
        )

    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        if exc.status_code == 404:
            message = "There is nothing at this address. It may have moved, or the link is wrong."
        code = _CODES.get(exc.status_code, "error")
        return await problem(request, exc.status_code, code, message, headers=exc.headers)

    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = {
            ".".join(str(part) for part in error["loc"][1:]) or "body": error["msg"]
            for error in exc.errors()
        }
        return await problem(
            request,
            422,
            "invalid",
            "Some details are missing or not valid.",
            extra={"fields": fields},
        )

    async def invalid_input(request: Request, exc: InvalidInput) -> Response:
        return await problem(
            request,
            422,
            "invalid",
            "Some details are missing or not valid.",
            extra={"fields": exc.fields},
        )

    async def not_found(request: Request, exc: NotFound) -> Response:
        return await problem(
            request, 404, "not_found", str(exc), action={"href": "/", "label": "Home"}
        )

    async def conflict(request: Request, exc: Conflict) -> Response:
        extra: dict[str, Any] = {}
        if isinstance(exc, SlotTaken):
            business = await core(request).catalogue.business()
            zone = business.rules.zone
            extra["alternatives"] = [
                {
                    "start": slot.start.isoformat(),
                    "local_time": slot.start.astimezone(zone).strftime("%H:%M"),
                    "resources": list(slot.resource_ids),
                }
                for slot in exc.alternatives
                if isinstance(slot, Slot)
            ]
        code = "slot_taken" if isinstance(exc, SlotTaken) else "conflict"
        return await problem(request, 409, code, str(exc), extra=extra)

    handlers: list[tuple[type[Exception], Any]] = [
        (InvalidInput, invalid_input),
        (NotFound, not_found),
        (Conflict, conflict),
        (RateLimited, rate_limited),
        (Busy, busy),
        (StorageUnavailable, unavailable),
        (LoginRequired, login_required),
        (Forbidden, forbidden),
        (TwoFactorRequired, two_factor_required),
        (CsrfRejected, csrf_rejected),
        (HTTPException, http_error),
        (RequestValidationError, invalid),
    ]
    for exception, handler in handlers:
        app.add_exception_handler(exception, handler)
