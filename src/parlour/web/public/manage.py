"""A client's private link to their booking: see it, add it to a calendar, cancel or move it
before the cut-off, and review it once it has taken place.

The token is in the path, so every answer says ``Referrer-Policy: same-origin``: a link on these
pages never hands the token to another site. (Not ``no-referrer``: under it browsers send
``Origin: null`` with the page's own forms, which the CSRF check rightly refuses; a real
browser found that, see tests/browser.)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.domain.booking import Booking
from parlour.domain.catalogue import Resource
from parlour.errors import Conflict, InvalidInput, SlotTaken
from parlour.services.bookings.records import parse_start
from parlour.services.calendar_file import calendar_file
from parlour.services.catalogue import Business
from parlour.services.ratelimit import Identity
from parlour.web.forms import submitted
from parlour.web.pages import redirect, render, requested_day
from parlour.web.parts import core, parts
from parlour.web.ratelimit import enforce

PRIVATE = {"referrer-policy": "same-origin", "cache-control": "private, no-store"}


async def _booking(request: Request) -> Booking:
    return await core(request).bookings.by_token(request.path_params["token"])


async def _page(
    request: Request, booking: Booking, business: Business, *, status: int = 200, **extra: object
) -> Response:
    token = request.path_params["token"]
    rules, now = business.rules, core(request).days.now()
    context = {
        "business": business,
        "zone": rules.zone,
        "booking": booking,
        "therapist": await _therapist(request, booking),
        "token": token,
        "may_change": booking.client_may_change(now, rules.cancel_cutoff_hours),
        "cutoff": rules.cancel_cutoff_hours,
        "reviewable": booking.reviewable(now),
        "review": await core(request).reviews.for_booking(booking.id),
        "notice": request.query_params.get("done", ""),
        "errors": {},
        **extra,
    }
    return await render(request, "manage.html", context, status=status, headers=PRIVATE)


async def _therapist(request: Request, booking: Booking) -> str:
    """Who the booking is with, by name (a resource since removed: nobody is named)."""
    resources = await core(request).catalogue.resources()
    return next((r.name for r in resources if r.id == booking.resource_id), "")


async def manage(request: Request) -> Response:
    booking = await _booking(request)
    return await _page(request, booking, await core(request).catalogue.business())


async def calendar(request: Request) -> Response:
    booking = await _booking(request)
    business = await core(request).catalogue.business()
    link = parts(request).links.manage(request.path_params["token"])
    return Response(
        calendar_file(booking, business, link, therapist=await _therapist(request, booking)),
        media_type="text/calendar; charset=utf-8",
        headers={**PRIVATE, "content-disposition": 'attachment; filename="booking.ics"'},
    )


async def cancel(request: Request) -> Response:
    form = await submitted(request)
    booking = await _booking(request)
    if form.text("confirmed", 3) != "yes":  # without JavaScript: a page that asks first
        return await _ask(request, booking, "cancel", {})
    try:
        await core(request).bookings.cancel(booking, by_client=True)
    except Conflict as exc:
        business = await core(request).catalogue.business()
        return await _page(request, booking, business, status=409, problem=str(exc))
    return redirect(f"/booking/{request.path_params['token']}?done=cancelled")


ANYONE = "any"
"""The therapist choice "whoever is free" (no choice at all keeps what the booking asked for)."""


async def _therapists(request: Request, booking: Booking) -> list[Resource]:
    """Who can do the booking's treatment: the move's therapist choice."""
    treatment = await core(request).catalogue.treatment(booking.treatment_id)
    resources = await core(request).catalogue.resources()
    return [r for r in resources if r.active and r.id in treatment.resource_ids]


def _kept(booking: Booking) -> str:
    """The therapist a move keeps when none is chosen: the one asked for by name, if any."""
    return booking.resource_id if booking.requested else ""


def _chosen(booking: Booking, asked: str) -> str:
    """The therapist a move lists times for: the one asked, else the booking's own if it named
    one (a move keeps its therapist unless the client chooses another), else anyone."""
    if asked:
        return asked
    return booking.resource_id if booking.requested else ANYONE


async def reschedule_page(request: Request) -> Response:
    booking = await _booking(request)
    business = await core(request).catalogue.business()
    today = await core(request).days.today()
    day, problem = requested_day(request, booking.start.astimezone(business.rules.zone).date())
    therapists = await _therapists(request, booking)
    choice = _chosen(booking, request.query_params.get("resource", "")[:64])
    if choice != ANYONE and choice not in {r.id for r in therapists}:
        choice = ANYONE
    _, slots = await core(request).bookings.availability(
        booking.treatment_id, day, ignoring=booking, resource="" if choice == ANYONE else choice
    )
    return await _page(
        request,
        booking,
        business,
        moving=True,
        day=day,
        slots=slots,
        problem=problem,
        today=today,
        therapists=therapists,
        choice=choice,
        previous_day=day - timedelta(days=1) if day > today else None,
        next_day=day + timedelta(days=1),
    )


async def reschedule(request: Request) -> Response:
    form = await submitted(request)
    booking = await _booking(request)
    asked = form.text("resource", 64)
    resource = None if not asked else ("" if asked == ANYONE else asked)
    try:
        start = parse_start(form.text("start", 64))
        if form.text("confirmed", 3) != "yes":  # every move is asked about first
            fields = {"start": start.isoformat(), "resource": asked}
            return await _ask(request, booking, "move", fields, start=start, resource=resource)
        moved = await core(request).bookings.reschedule(
            booking, start, by_client=True, resource=resource
        )
    except SlotTaken as exc:
        business = await core(request).catalogue.business()
        return await _page(
            request,
            booking,
            business,
            status=409,
            moving=True,
            slots=exc.alternatives,
            day=booking.start.astimezone(business.rules.zone).date(),
            therapists=await _therapists(request, booking),
            choice=_chosen(booking, asked),
            problem=str(exc),
        )
    except (Conflict, InvalidInput) as exc:
        business = await core(request).catalogue.business()
        return await _page(request, booking, business, status=409, problem=str(exc))
    changed = moved.booking.resource_id != booking.resource_id
    done = "moved-therapist" if changed else "moved"
    return redirect(f"/booking/{request.path_params['token']}?done={done}")


async def _ask(
    request: Request,
    booking: Booking,
    what: str,
    fields: dict[str, str],
    *,
    start: datetime | None = None,
    resource: str | None = None,
) -> Response:
    """The confirmation a client's cancel or move asks for without JavaScript (with it, the
    page's own dialog asks and sends ``confirmed=yes``), naming who the move is with."""
    business = await core(request).catalogue.business()
    names = {r.id: r.name for r in await core(request).catalogue.resources()}
    with_whom = ""
    if start is not None:
        keep = resource if resource is not None else _kept(booking)
        if not keep:
            zone = business.rules.zone
            _, slots = await core(request).bookings.availability(
                booking.treatment_id, start.astimezone(zone).date(), ignoring=booking
            )
            slot = next((s for s in slots if s.start == start), None)
            ids = slot.resource_ids if slot else (booking.resource_id,)
            keep = booking.resource_id if booking.resource_id in ids else ids[0]
        with_whom = names.get(keep, keep)
    context = {
        "business": business,
        "zone": business.rules.zone,
        "booking": booking,
        "token": request.path_params["token"],
        "what": what,
        "start": start,
        "with_whom": with_whom,
        "was_with": names.get(booking.resource_id, booking.resource_id),
        "fields": fields,
    }
    return await render(request, "manage_confirm.html", context, headers=PRIVATE)


async def review(request: Request) -> Response:
    form = await submitted(request)
    booking = await _booking(request)
    await enforce(request, "review", Identity.link(booking.token_hash))
    try:
        await core(request).reviews.submit(booking, form.text("stars", 2), form.text("text", 4000))
    except InvalidInput as exc:
        business = await core(request).catalogue.business()
        return await _page(
            request,
            booking,
            business,
            status=422,
            errors=exc.fields,
            review_text=form.text("text", 4000),
        )
    except Conflict as exc:
        business = await core(request).catalogue.business()
        return await _page(request, booking, business, status=409, problem=str(exc))
    return redirect(f"/booking/{request.path_params['token']}?done=reviewed")


routes = [  # under /booking
    Route("/{token}", manage),
    Route("/{token}/calendar.ics", calendar),
    Route("/{token}/cancel", cancel, methods=["POST"]),
    Route("/{token}/reschedule", reschedule_page, methods=["GET"]),
    Route("/{token}/reschedule", reschedule, methods=["POST"]),
    Route("/{token}/review", review, methods=["POST"]),
]
