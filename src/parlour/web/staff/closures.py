"""Time not for booking: the salon's closures (``/admin/closures``), and :func:`settle`, the
step every change that takes time out of booking passes through (a closure here; a day off,
leave or blocked time on a therapist's or room's page, ``studio.py``).

:func:`settle` saves at once when no booking is in the way. Otherwise it answers a page listing
the bookings the change would strand, each with a choice (move it to a listed free time, cancel
it, keep it as booked), and the change travels along in hidden fields; only when every booking
has a choice are they carried out and the change saved (services.closures). A client whose
booking is moved or cancelled hears of it through the outbox, as with any staff change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.domain.catalogue import Resource
from parlour.domain.schedule import Block
from parlour.errors import InvalidInput
from parlour.services.closures import Action, Choice, Outcome, Stranded, TimeOffPlanner
from parlour.services.schedule_form import closure_from_form
from parlour.web.forms import Form, submitted
from parlour.web.pages import redirect, render, session_of
from parlour.web.parts import core
from parlour.web.staff.audit import audit
from parlour.web.staff.guards import ADMIN, guarded

CLOSURE_FIELDS = ("first", "last", "start", "end", "weekly", "label")


async def settle(
    request: Request,
    form: Form,
    after: Sequence[Resource],
    save: Callable[[], Awaitable[None]],
    *,
    carry: Mapping[str, str],
    action: str,
    change: str,
    back: str,
) -> Response | Outcome:
    """Save the change (``save``) that leaves the resources as ``after``, once every booking it
    would strand has a choice; until then, the page that asks (``carry``: the change's form
    fields, sent again to ``action``; ``change``: what it is, in words)."""
    planner = TimeOffPlanner(core(request).catalogue, core(request).bookings)
    stranded = await planner.stranded(after)
    if not stranded:
        await save()
        return Outcome()
    if form.text("settling", 3) != "yes":
        return await _ask(request, stranded, {}, carry, action, change, back, 200)
    try:
        outcome = await planner.resolve(stranded, _choices(form, stranded), save)
    except InvalidInput as exc:
        return await _ask(request, stranded, exc.fields, carry, action, change, back, 422)
    for kind, before, changed in outcome.changes:
        await audit(request, kind, changed.id, before, changed)
    return outcome


def say(request: Request, saved: str, outcome: Outcome) -> None:
    """Flash what was saved and what became of the bookings in its way."""
    words = f"{saved} {outcome}".strip()
    for booking, reason in outcome.failed:
        words += f" Could not change {booking.client_name}'s booking: {reason} Move it by hand."
    session_of(request).flash(words)


def _choices(form: Form, stranded: Sequence[Stranded]) -> dict[str, Choice]:
    choices = {}
    for item in stranded:
        picked = form.text(f"choice_{item.booking.id}", 10)
        if picked not in tuple(Action):
            continue
        start = None
        if picked == Action.MOVE:  # a time not listed (or not one at all) is refused as such
            with contextlib.suppress(ValueError):
                start = datetime.fromisoformat(form.text(f"move_{item.booking.id}", 40))
        choices[item.booking.id] = Choice(Action(picked), start)
    return choices


async def _ask(
    request: Request,
    stranded: Sequence[Stranded],
    errors: Mapping[str, str],
    carry: Mapping[str, str],
    action: str,
    change: str,
    back: str,
    status: int,
) -> Response:
    business = await core(request).catalogue.business()
    names = {r.id: r.name for r in await core(request).catalogue.resources()}
    return await render(
        request,
        "admin/stranded.html",
        {
            "stranded": stranded,
            "errors": dict(errors),
            "carry": dict(carry),
            "action": action,
            "change": change,
            "back": back,
            "zone": business.rules.zone,
            "names": names,
        },
        status=status,
    )


# -- the salon's closures --------------------------------------------------------------------


async def closures(
    request: Request,
    fields: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    business = await core(request).catalogue.business()
    today = datetime.now(UTC).astimezone(business.rules.zone).date()
    every = await core(request).catalogue.closures()
    return await render(
        request,
        "admin/closures.html",
        {
            "upcoming": [c for c in every if c.last is None or c.last >= today],
            "past": [c for c in every if c.last is not None and c.last < today],
            "fields": dict(fields or {}),
            "errors": dict(errors or {}),
        },
        status=status,
    )


async def add_closure(request: Request) -> Response:
    form = await submitted(request)
    fields = {name: form.text(name, 200) for name in CLOSURE_FIELDS}
    try:
        closure = closure_from_form(fields)
    except InvalidInput as exc:
        return await closures(request, fields, exc.fields, 422)
    catalogue = core(request).catalogue
    current = await catalogue.closures()
    if closure in current:
        session_of(request).flash(f"The salon is already closed {closure}.")
        return redirect("/admin/closures")
    after = (*current, closure)
    resources = [
        replace(r, schedule=replace(r.schedule, closures=after))
        for r in await catalogue.resources()
    ]

    async def save() -> None:
        await catalogue.put_closures(after)

    done = await settle(
        request,
        form,
        resources,
        save,
        carry=fields,
        action="/admin/closures",
        change=f"the closure {_words(closure)}{f' ({closure.label})' if closure.label else ''}",
        back="/admin/closures",
    )
    if isinstance(done, Response):
        return done
    await audit(request, "closure.add", str(closure), None, {"closure": str(closure)})
    say(request, f"The salon is closed {_words(closure)}.", done)
    return redirect("/admin/closures")


async def remove_closure(request: Request) -> Response:
    form = await submitted(request)
    named = form.text("closure", 300)
    catalogue = core(request).catalogue
    current = await catalogue.closures()
    kept = tuple(c for c in current if str(c) != named)
    if len(kept) == len(current):
        session_of(request).flash("That closure was already removed.")
        return redirect("/admin/closures")
    await catalogue.put_closures(kept)
    await audit(request, "closure.remove", named, {"closure": named}, None)
    session_of(request).flash(f"Removed the closure {named}; those times can be booked again.")
    return redirect("/admin/closures")


def _words(closure: Block) -> str:
    if closure.weekly:
        until = "" if closure.last is None else f" until {closure.last:%-d %B %Y}"
        days = f"every {closure.first:%A} from {closure.first:%-d %B %Y}{until}"
        return days if closure.hours is None else f"{days}, {closure.hours}"
    days = (
        f"on {closure.first:%A %-d %B %Y}"
        if closure.last == closure.first
        else f"from {closure.first:%A %-d %B} to {closure.last:%A %-d %B %Y}"
    )
    hours = "" if closure.hours is None else f", {closure.hours}"
    return f"{days}{hours}"


routes = guarded(  # under /admin
    ADMIN,
    [
        Route("/closures", closures, methods=["GET"]),
        Route("/closures", add_closure, methods=["POST"]),
        Route("/closures/remove", remove_closure, methods=["POST"]),
    ],
)
