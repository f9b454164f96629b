"""A client's private link to their booking: see it, add it to a calendar, cancel or move it
before the cut-off, and review it once it has taken place.

The token is in the path, so every answer says ``Referrer-Policy: same-origin``: a link on these
pages never hands the token to another site. (Not ``no-referrer``: under it browsers send
``Origin: null`` with the page's own forms, which the CSRF check rightly refuses; a real
browser found that, see tests/browser.)
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.domain.booking import Booking
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
    await submitted(request)
    booking = await _booking(request)
    try:
        await core(request).bookings.cancel(booking, by_client=True)
    except Conflict as exc:
        business = await core(request).catalogue.business()
        return await _page(request, booking, business, status=409, problem=str(exc))
    return redirect(f"/booking/{request.path_params['token']}?done=cancelled")


async def reschedule_page(request: Request) -> Response:
    booking = await _booking(request)
    business = await core(request).catalogue.business()
    today = await core(request).days.today()
    day, problem = requested_day(request, booking.start.astimezone(business.rules.zone).date())
    _, slots = await core(request).bookings.availability(
        booking.treatment_id, day, ignoring=booking
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
        previous_day=day - timedelta(days=1) if day > today else None,
        next_day=day + timedelta(days=1),
    )


async def reschedule(request: Request) -> Response:
    form = await submitted(request)
    booking = await _booking(request)
    try:
        start = parse_start(form.text("start", 64))
        await core(request).bookings.reschedule(booking, start, by_client=True)
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
            problem=str(exc),
        )
    except (Conflict, InvalidInput) as exc:
        business = await core(request).catalogue.business()
        return await _page(request, booking, business, status=409, problem=str(exc))
    return redirect(f"/booking/{request.path_params['token']}?done=moved")


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
