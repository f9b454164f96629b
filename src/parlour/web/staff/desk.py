"""The staff desk: today's bookings, the day and week calendar, and changing bookings."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import Resource
from parlour.domain.events import Actor
from parlour.domain.slots import Slot
from parlour.errors import Conflict, InvalidInput, SlotTaken
from parlour.services.bookings.records import BookRequest, parse_start
from parlour.services.catalogue import Business
from parlour.web.forms import Form, submitted
from parlour.web.pages import local_path, redirect, render, requested_day, session_of
from parlour.web.parts import core, parts
from parlour.web.staff.audit import audit
from parlour.web.staff.confirm import ask_first, confirmed
from parlour.web.staff.first_run import first_run
from parlour.web.staff.grid import day_grid, week_grid
from parlour.web.staff.guards import STAFF, guarded

VIEWS = ("day", "week")
ASK_FIRST = {
    Status.CANCELLED.value: ("Yes, cancel it", "cancel"),
    Status.COMPLETED.value: ("Yes, mark it done", "mark as done"),
    Status.NO_SHOW.value: ("Yes, a no-show", "mark as a no-show"),
}
"""Status changes that are asked about first: a page with a second button works without
JavaScript (parlour.js asks in a dialog instead, and says so with ``confirmed=yes``)."""
FREED = " Its time becomes free for others to book."


def _status_filter(request: Request) -> str:
    wanted = request.query_params.get("status", "")
    return wanted if wanted in {s.value for s in Status} else ""


async def _calendar_context(
    request: Request, business: Business, first: date, days: int
) -> dict[str, object]:
    resources = await core(request).catalogue.resources()
    wanted = request.query_params.get("resource", "")
    shown = [r for r in resources if not wanted or r.id == wanted]
    status = _status_filter(request)
    columns = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        found = await core(request).bookings.day(day, [r.id for r in shown])
        columns.append((day, [b for b in found if not status or b.status.value == status]))
    return {
        "business": business,
        "zone": business.rules.zone,
        "resources": resources,
        "names": {r.id: r.name for r in resources},
        "resource": wanted,
        "status": status,
        "statuses": [s.value for s in Status],
        "columns": columns,
    }


async def today(request: Request) -> Response:
    business = await core(request).catalogue.business()
    day = await core(request).days.today()
    context = await _calendar_context(request, business, day, 1)
    context["first_run"] = await first_run(request)
    return await render(request, "admin/index.html", {**context, "day": day})


async def calendar(request: Request) -> Response:
    business = await core(request).catalogue.business()
    rules = business.rules
    view = request.query_params.get("view", "day")
    view = view if view in VIEWS else "day"
    day, problem = requested_day(request, await core(request).days.today())
    first = day - timedelta(days=day.weekday()) if view == "week" else day
    length = 7 if view == "week" else 1
    resources = await core(request).catalogue.resources()
    wanted = request.query_params.get("resource", "")
    lanes = [r for r in resources if (r.id == wanted if wanted else r.active)]
    if view == "week" and not wanted:
        lanes = lanes[:1]  # a week is one therapist's: the first, until another is chosen
    days = [first + timedelta(days=offset) for offset in range(length)]
    ids = [r.id for r in lanes]
    found = {d: await core(request).bookings.day(d, ids) for d in days}
    now, status = core(request).days.now(), _status_filter(request)
    if view == "week" and lanes:
        grid = week_grid(
            days, rules.zone, lanes[0], found, now=now, step=rules.slot_step, status=status
        )
    else:
        grid = day_grid(
            day, rules.zone, lanes, found.get(day, []), now=now, step=rules.slot_step, status=status
        )
    return await render(
        request,
        "admin/calendar.html",
        {
            "business": business,
            "zone": rules.zone,
            "resources": resources,
            "names": {r.id: r.name for r in resources},
            "resource": lanes[0].id if view == "week" and lanes else wanted,
            "status": status,
            "statuses": [s.value for s in Status],
            "grid": grid,
            "view": view,
            "day": day,
            "problem": problem,
            "previous": first - timedelta(days=length),
            "next": first + timedelta(days=length),
        },
    )


async def booking_page(request: Request) -> Response:
    booking = await core(request).bookings.get(request.path_params["booking_id"])
    business = await core(request).catalogue.business()
    days = core(request).days
    now = days.now()
    today = now.astimezone(business.rules.zone).date()
    asked, problem = requested_day(request, booking.start.astimezone(business.rules.zone).date())
    day, refused = await days.move_to(asked)
    problem = refused or problem
    _, slots = await core(request).bookings.availability(
        booking.treatment_id, day, ignoring=booking, staff=True
    )
    resources = {r.id: r.name for r in await core(request).catalogue.resources()}
    return await render(
        request,
        "admin/booking.html",
        {
            "business": business,
            "zone": business.rules.zone,
            "booking": booking,
            "slots": slots,
            "day": day,
            "today": today,
            "problem": problem,
            "names": resources,
            "statuses": [s.value for s in Status if not booking.refuses(s, now)],
            "started": booking.has_started(now),
        },
    )


async def set_status(request: Request) -> Response:
    form = await submitted(request)
    service = core(request).bookings
    booking = await service.get(request.path_params["booking_id"])
    wanted = next((s for s in Status if s.value == form.text("status", 20)), None)
    refusal = wanted and booking.refuses(wanted, core(request).days.now())
    if refusal:  # before asking "are you sure?": the answer would be no anyway
        session_of(request).flash(refusal)
        return redirect(local_path(form.text("next", 300), f"/admin/bookings/{booking.id}"))
    if form.text("status", 20) in ASK_FIRST and form.text("confirmed", 3) != "yes":
        return await _confirm_status(request, booking, form.text("status", 20), form)
    try:
        status = Status(form.text("status", 20))
        changed = (await service.set_status(booking, status)).booking
        await audit(request, "booking.status", booking.id, booking, changed)
        session_of(request).flash(f"{changed.client_name}: {changed.status.value}.")
    except ValueError:
        session_of(request).flash("Choose confirmed, completed, no-show or cancelled.")
    except Conflict as exc:
        session_of(request).flash(str(exc))
    return redirect(local_path(form.text("next", 300), f"/admin/bookings/{booking.id}"))


async def _confirm_status(request: Request, booking: Booking, status: str, form: Form) -> Response:
    business = await core(request).catalogue.business()
    button, verb = ASK_FIRST[status]
    when = booking.start.astimezone(business.rules.zone).strftime("%A %-d %B at %H:%M")
    return await render(
        request,
        "admin/confirm.html",
        {
            "business": business,
            "question": f"{verb.capitalize()} {booking.client_name}'s {booking.treatment_name}?",
            "details": f"{when}.{FREED if status == Status.CANCELLED.value else ''}",
            "action": f"/admin/bookings/{booking.id}/status",
            "fields": {"status": status, "next": form.text("next", 300)},
            "button": button,
            "danger": status != Status.COMPLETED.value,
            "back": local_path(form.text("next", 300), f"/admin/bookings/{booking.id}"),
        },
    )


async def reschedule(request: Request) -> Response:
    form = await submitted(request)
    service = core(request).bookings
    booking = await service.get(request.path_params["booking_id"])
    if not confirmed(form):  # a move is one tap on a time: ask first (web/staff/confirm.py)
        return await _confirm_move(request, booking, form.text("start", 64))
    try:
        start = parse_start(form.text("start", 64))
        moved = (await service.reschedule(booking, start, by_client=False)).booking
    except (Conflict, InvalidInput) as exc:
        session_of(request).flash(str(exc))
        return redirect(f"/admin/bookings/{booking.id}")
    await audit(request, "booking.move", booking.id, booking, moved)
    business = await core(request).catalogue.business()
    when = moved.start.astimezone(business.rules.zone).strftime("%a %-d %b, %H:%M")
    session_of(request).flash(f"Moved to {when}.")
    return redirect(f"/admin/bookings/{booking.id}")


async def _confirm_move(request: Request, booking: Booking, start: str) -> Response:
    zone = (await core(request).catalogue.business()).rules.zone
    try:
        when = parse_start(start).astimezone(zone).strftime("%A %-d %B at %H:%M")
    except InvalidInput as exc:
        session_of(request).flash(str(exc))
        return redirect(f"/admin/bookings/{booking.id}")
    now = booking.start.astimezone(zone).strftime("%A %-d %B at %H:%M")
    return await ask_first(
        request,
        question=f"Move {booking.client_name}'s {booking.treatment_name} to {when}?",
        details=f"It is booked for {now} now.",
        action=f"/admin/bookings/{booking.id}/reschedule",
        fields={"start": start},
        button="Yes, move it",
        back=f"/admin/bookings/{booking.id}",
        danger=False,
    )


async def new_booking_page(request: Request) -> Response:
    business = await core(request).catalogue.business()
    treatments = await core(request).catalogue.treatments(active_only=True)
    chosen = request.query_params.get("treatment", "")
    day, problem = requested_day(request, await core(request).days.today())
    # From a free cell of the calendar: that start, with that therapist or room.
    start, resource = (
        request.query_params.get("start", "")[:64],
        request.query_params.get("resource", "")[:64],
    )
    everyone = await core(request).catalogue.resources()
    performer = next((r for r in everyone if r.id == resource), None)
    if performer is not None:
        treatments = [t for t in treatments if performer.id in t.resource_ids]
    slots: list[Slot] = []
    if chosen:
        _, slots = await core(request).bookings.availability(chosen, day, staff=True)
        slots = [s for s in slots if performer is None or performer.id in s.resource_ids]
    return await render(
        request,
        "admin/booking_new.html",
        {
            "business": business,
            "zone": business.rules.zone,
            "treatments": treatments,
            "treatment": chosen,
            "day": day,
            "slots": slots,
            "problem": problem,
            "start": start,
            "performer": performer,
            "capable": await _capable(request, chosen),
            "fields": {},
            "errors": {},
            "idempotency_key": secrets.token_urlsafe(16),
        },
    )


async def new_booking(request: Request) -> Response:
    form = await submitted(request)
    fields = {
        name: form.text(name, 300)
        for name in ("treatment", "start", "name", "email", "phone", "resource")
    }
    try:
        wanted = BookRequest.from_fields(
            fields, idempotency_key=form.text("idempotency_key", 200), by=Actor.STAFF
        )
        booked = await core(request).bookings.book(wanted)
    except (InvalidInput, SlotTaken) as exc:
        business = await core(request).catalogue.business()
        errors = exc.fields if isinstance(exc, InvalidInput) else {"start": str(exc)}
        return await render(
            request,
            "admin/booking_new.html",
            {
                "business": business,
                "zone": business.rules.zone,
                "treatments": await core(request).catalogue.treatments(active_only=True),
                "treatment": fields["treatment"],
                "day": None,
                "slots": [],
                "problem": "",
                "start": fields["start"],
                "performer": None,
                "capable": await _capable(request, fields["treatment"]),
                "fields": fields,
                "errors": errors,
                "idempotency_key": form.text("idempotency_key", 200),
            },
            status=422 if isinstance(exc, InvalidInput) else 409,
        )
    await audit(request, "booking.create", booked.booking.id, None, booked.booking)
    link = parts(request).links.manage(booked.token)
    session_of(request).flash(f"Booked. The client's link: {link}")
    return redirect(f"/admin/bookings/{booked.booking.id}")


async def _capable(request: Request, treatment_id: str) -> list[Resource]:
    """Who can perform the treatment: the desk's therapist choice (besides "anyone")."""
    treatments = await core(request).catalogue.treatments(active_only=True)
    treatment = next((t for t in treatments if t.id == treatment_id), None)
    if treatment is None:
        return []
    resources = await core(request).catalogue.resources()
    return [r for r in resources if r.active and r.id in treatment.resource_ids]


landing = guarded(STAFF, [Route("/admin", today)])
"""The staff landing page: ``/admin`` itself, beside the mount of the routes under it."""
routes = guarded(  # under /admin
    STAFF,
    [
        Route("/calendar", calendar),
        Route("/bookings/new", new_booking_page, methods=["GET"]),
        Route("/bookings/new", new_booking, methods=["POST"]),
        Route("/bookings/{booking_id}", booking_page),
        Route("/bookings/{booking_id}/status", set_status, methods=["POST"]),
        Route("/bookings/{booking_id}/reschedule", reschedule, methods=["POST"]),
    ],
)
