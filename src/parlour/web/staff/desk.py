"""The staff desk: today's bookings, the day and week calendar, and changing bookings."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import date, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.domain.booking import Booking, Status
from parlour.domain.events import Actor
from parlour.domain.slots import Slot
from parlour.errors import Conflict, InvalidInput, SlotTaken
from parlour.services.bookings.records import BookRequest, parse_start
from parlour.services.catalogue import Business
from parlour.web.forms import Form, submitted
from parlour.web.pages import local_path, redirect, render, requested_day, session_of
from parlour.web.parts import core, parts
from parlour.web.staff.audit import audit
from parlour.web.staff.booking import booking_page, capable, edit, parse_local, reschedule
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
        "now": core(request).days.now(),
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


async def new_booking_page(request: Request) -> Response:
    day, problem = requested_day(request, await core(request).days.today())
    # From a free cell of the calendar, or the therapist choice: that start, with them.
    return await _new_booking_form(
        request,
        treatment=request.query_params.get("treatment", "")[:64],
        resource=request.query_params.get("resource", "")[:64],
        day=day,
        start=request.query_params.get("start", "")[:64],
        problem=problem,
    )


async def _new_booking_form(
    request: Request,
    *,
    treatment: str,
    resource: str,
    day: date,
    start: str,
    problem: str = "",
    fields: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    idempotency_key: str = "",
) -> Response:
    """The desk's "New booking": the times listed are those of the therapist chosen (with
    or without JavaScript: the choice is a field of the form that lists the times)."""
    business = await core(request).catalogue.business()
    treatments = await core(request).catalogue.treatments(active_only=True)
    everyone = await core(request).catalogue.resources()
    performer = next((r for r in everyone if r.id == resource), None)
    if performer is not None:
        treatments = [t for t in treatments if performer.id in t.resource_ids]
    if treatment not in {t.id for t in treatments}:
        treatment = ""
    slots: list[Slot] = []
    if treatment:
        _, slots = await core(request).bookings.availability(
            treatment, day, staff=True, resource=performer.id if performer else ""
        )
    return await render(
        request,
        "admin/booking_new.html",
        {
            "business": business,
            "zone": business.rules.zone,
            "treatments": treatments,
            "treatment": treatment,
            "day": day,
            "slots": slots,
            "problem": problem,
            "start": start,
            "performer": performer,
            "capable": await capable(request, treatment) if treatment else [],
            "fields": fields or {},
            "errors": errors or {},
            "idempotency_key": idempotency_key or secrets.token_urlsafe(16),
        },
        status=status,
    )


async def new_booking(request: Request) -> Response:
    form = await submitted(request)
    fields = {
        name: form.text(name, 300)
        for name in ("treatment", "start", "name", "email", "phone", "resource")
    }
    zone = (await core(request).catalogue.business()).rules.zone
    walk_in = form.text("walk_in", 3) == "yes"
    squeeze = walk_in or form.text("squeeze", 3) == "yes"
    try:
        if form.text("when", 32) and not squeeze:
            raise InvalidInput({"squeeze": 'Tick "Book outside opening hours" to use that time.'})
        if not (squeeze or fields["start"]):
            raise InvalidInput({"start": "Choose a time from the list."})
        if walk_in:  # starting now, to the minute: off the slot grid, so a squeeze-in
            fields["start"] = core(request).days.now().replace(second=0, microsecond=0).isoformat()
        elif squeeze:
            fields["start"] = parse_local(form.text("when", 32), zone, "start").isoformat()
        wanted = BookRequest.from_fields(
            fields, idempotency_key=form.text("idempotency_key", 200), by=Actor.STAFF
        )
        wanted = replace(wanted, squeeze=squeeze)
        if squeeze and not walk_in and not confirmed(form):
            return await _confirm_squeeze(request, wanted, form)
        booked = await core(request).bookings.book(wanted)
    except (InvalidInput, SlotTaken) as exc:
        errors = exc.fields if isinstance(exc, InvalidInput) else {"start": str(exc)}
        try:
            day = parse_start(fields["start"]).astimezone(zone).date()
        except InvalidInput:
            day = await core(request).days.today()
        return await _new_booking_form(
            request,
            treatment=fields["treatment"],
            resource=fields["resource"],
            day=day,
            start="",
            fields=fields,
            errors=errors,
            status=422 if isinstance(exc, InvalidInput) else 409,
            idempotency_key=form.text("idempotency_key", 200),
        )
    action = "booking.walk_in" if walk_in else "booking.squeeze" if squeeze else "booking.create"
    await audit(request, action, booked.booking.id, None, booked.booking)
    link = parts(request).links.manage(booked.token)
    session_of(request).flash(f"Booked. The client's link: {link}")
    return redirect(f"/admin/bookings/{booked.booking.id}")


async def _confirm_squeeze(request: Request, wanted: BookRequest, form: Form) -> Response:
    zone = (await core(request).catalogue.business()).rules.zone
    names = {r.id: r.name for r in await core(request).catalogue.resources()}
    when = wanted.start.astimezone(zone).strftime("%A %-d %B at %H:%M")
    who = f" with {names.get(wanted.resource, wanted.resource)}" if wanted.resource else ""
    keep = ("treatment", "name", "email", "phone", "resource", "when", "idempotency_key")
    return await ask_first(
        request,
        question=f"Squeeze {wanted.client.name} in at {when}{who}, outside the listed times?",
        details="Opening hours and the time grid are set aside for this booking; another "
        "booking's time still cannot be taken. The audit log records it.",
        action="/admin/bookings/new",
        fields={**{name: form.text(name, 300) for name in keep}, "squeeze": "yes"},
        button="Yes, squeeze it in",
        back="/admin/bookings/new",
        danger=False,
    )


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
        Route("/bookings/{booking_id}/edit", edit, methods=["POST"]),
    ],
)
