"""The audit log over HTTP: one call for a route that changed something, and the admins' page.

A route records what it did in one line, after the change succeeded::

    await audit(request, "booking.status", booking.id, booking, changed)

The actor is the session's account and the client's address; nothing here can change or remove
an entry once written (see ``services/audit.py``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.services.audit import Actor, AuditFilter
from parlour.web.pages import render, session_of
from parlour.web.parts import core
from parlour.web.staff.audit_words import Words
from parlour.web.staff.guards import ADMIN, guarded


async def audit(
    request: Request, action: str, target: str, before: object = None, after: object = None
) -> None:
    """Append who did ``action`` to ``target`` from where, with the values before and after."""
    session = session_of(request)
    record = session.record
    actor = Actor(record.user_id, record.email, session.ip) if record else Actor("", "", session.ip)
    await core(request).audit.record(actor, action, target, before, after)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


async def audit_page(request: Request) -> Response:
    query = request.query_params
    who, what = query.get("who", "")[:254], query.get("what", "")[:64]
    first, last = _day(query.get("from", "")[:10]), _day(query.get("to", "")[:10])
    catalogue = core(request).catalogue
    business = await catalogue.business()
    zone = business.rules.zone  # "from" and "to" are days on the salon's calendar
    wanted = AuditFilter(
        who=who.strip(),
        what=what.strip(),
        since=None if first is None else datetime.combine(first, time(), zone).timestamp(),
        until=None
        if last is None
        else datetime.combine(last + timedelta(days=1), time(), zone).timestamp(),
    )
    number = int(query["page"]) if query.get("page", "").isdigit() else 1
    entries, more = await core(request).audit.page(wanted, number)
    names = {r.id: r.name for r in await catalogue.resources()}
    names |= {t.id: t.name for t in await catalogue.treatments()}
    words = Words(zone, business.currency, business.locale, names)
    context = {
        "business": business,
        "entries": [words.describe(entry) for entry in entries],
        "more": more,
        "number": number,
        "filters": {"who": who, "what": what, "from": first or "", "to": last or ""},
    }
    return await render(request, "admin/audit.html", context)


routes = guarded(ADMIN, [Route("/audit", audit_page, methods=["GET"])])  # under /admin
