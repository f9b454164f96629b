"""Rendering a page: the template, plus who is logged in, a CSRF field and a flash message."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from parlour.errors import StorageUnavailable
from parlour.services.bookings.records import OUT_OF_RANGE, in_range
from parlour.web import csrf
from parlour.web.contact import business_for_page, opening_for_page
from parlour.web.middleware.sessions import Session
from parlour.web.parts import core, parts

log = logging.getLogger(__name__)
_APPOINTMENTS = frozenset({"admin/index.html", "admin/booking.html", "admin/calendar.html"})
"""Staff pages that show appointments, each with its client's alerts (services.clients.people)."""


def session_of(request: Request) -> Session:
    session: Session = request.state.session
    return session


async def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    session = session_of(request)
    if session.has_cookie:
        try:
            await session.load()
        except StorageUnavailable as exc:
            # A page that needs the session has loaded it already (and answered 503 if it could
            # not); any other page is public and is shown as to a visitor.
            log.warning("showing %s without its session: %s", request.url.path, exc)
    templates = parts(request).templates
    full = {
        "user": session.record,
        "flash": session.pop_flash(),
        "csrf_input": lambda: csrf.hidden_input(request),
        **(context or {}),
    }
    if full.get("business") is None:  # every page names the salon (web/contact.py)
        full["business"] = await business_for_page(request)
    if template in _APPOINTMENTS and "alerts" not in full and session.record:
        full["alerts"] = await core(request).clients.alerts()  # the clients' alert notes
    if "opening" not in full and not request.url.path.startswith("/admin"):
        full["opening"] = await opening_for_page(request)
    return templates.TemplateResponse(
        request, template, full, status_code=status, headers=dict(headers or {})
    )


def redirect(url: str) -> RedirectResponse:
    """After a POST: 303, so a reload does not send the form again."""
    return RedirectResponse(url, status_code=303)


def local_path(candidate: str | None, default: str) -> str:
    """``candidate`` if it is a path on this site, so ``next=`` cannot send anyone elsewhere."""
    if (
        candidate
        and candidate.startswith("/")
        and not candidate.startswith("//")
        and "\\" not in candidate
        and all(ord(char) > 31 for char in candidate)
    ):
        return candidate
    return default


def requested_day(request: Request, today: date) -> tuple[date, str]:
    """The ``date`` query parameter, or today, with a message if it could not be read."""
    text = request.query_params.get("date", "")
    if not text:
        return today, ""
    try:
        day = date.fromisoformat(text[:10])
    except ValueError:
        return today, "That date could not be read; here is today."
    if not in_range(day):  # before any arithmetic: the day after 9999-12-31 does not exist
        return today, f"{OUT_OF_RANGE} Here is today."
    return day, ""
