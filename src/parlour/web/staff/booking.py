"""The staff page of one booking: its details, moving it (keeping its therapist unless another
is chosen), changing only its therapist, editing its client and treatment, and squeezing it in
outside opening hours. Every change is asked about first (web/staff/confirm.py) and audited."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import Resource
from parlour.domain.events import Actor
from parlour.errors import Conflict, InvalidInput, NotFound, SlotTaken
from parlour.services.bookings.changes import Amendment
from parlour.services.bookings.records import ClientDetails, parse_start, utc_instant
from parlour.web.forms import submitted
from parlour.web.pages import redirect, render, requested_day, session_of
from parlour.web.parts import core
from parlour.web.staff.audit import audit
from parlour.web.staff.confirm import ask_first, confirmed

ANYONE = "any"
"""The therapist choice that means "whoever is free" (an empty value reads as "not chosen")."""
WHEN = "%A %-d %B at %H:%M"
SQUEEZE_HINT = (
    " That time is outside opening hours: tick 'may run outside opening hours' to squeeze it in."
)


def parse_local(text: str, zone: ZoneInfo, field: str = "when") -> datetime:
    """A ``datetime-local`` field's value (``2026-12-10T19:30``) on the salon's clock."""
    try:
        naive = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput({field: "Give the day and time, like 2026-12-10 19:30."}) from exc
    return utc_instant(naive.replace(tzinfo=zone) if naive.tzinfo is None else naive, field)


async def capable(request: Request, treatment_id: str) -> list[Resource]:
    """Who can perform the treatment (active therapists and rooms), in the salon's order."""
    try:
        treatment = await core(request).catalogue.treatment(treatment_id)
    except NotFound:
        return []
    resources = await core(request).catalogue.resources()
    return [r for r in resources if r.active and r.id in treatment.resource_ids]


def _choice(booking: Booking, asked: str | None) -> str:
    """The therapist the move lists times for: as asked, else the booking's own intent."""
    if asked is None:
        return booking.resource_id if booking.requested else ANYONE
    return asked


async def booking_page(request: Request) -> Response:
    booking = await core(request).bookings.get(request.path_params["booking_id"])
    business = await core(request).catalogue.business()
    days = core(request).days
    now = days.now()
    today = now.astimezone(business.rules.zone).date()
    asked, problem = requested_day(request, booking.start.astimezone(business.rules.zone).date())
    day, refused = await days.move_to(asked)
    problem = refused or problem
    able = await capable(request, booking.treatment_id)
    choice = _choice(booking, request.query_params.get("resource"))
    if choice != ANYONE and choice not in {r.id for r in able}:
        choice, problem = ANYONE, problem or "That therapist does not do this treatment."
    _, slots = await core(request).bookings.availability(
        booking.treatment_id,
        day,
        ignoring=booking,
        staff=True,
        resource="" if choice == ANYONE else choice,
    )
    resources = await core(request).catalogue.resources()
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
            "names": {r.id: r.name for r in resources},
            "capable": able,
            "choice": choice,
            "treatments": await core(request).catalogue.treatments(active_only=True),
            "statuses": [s.value for s in Status if not booking.refuses(s, now)],
            "started": booking.has_started(now),
        },
    )


async def reschedule(request: Request) -> Response:
    """A move, a therapist change at the same time, or a squeeze-in: asked about first."""
    form = await submitted(request)
    service = core(request).bookings
    booking = await service.get(request.path_params["booking_id"])
    back = f"/admin/bookings/{booking.id}"
    zone = (await core(request).catalogue.business()).rules.zone
    asked = form.text("resource", 64)
    resource = None if not asked else ("" if asked == ANYONE else asked)
    squeeze = form.text("squeeze", 3) == "yes"
    try:
        if form.text("when", 32):
            start = parse_local(form.text("when", 32), zone)
        else:
            start = parse_start(form.text("start", 64) or booking.start.isoformat())
    except InvalidInput as exc:
        session_of(request).flash(" ".join(exc.fields.values()))
        return redirect(back)
    change = Amendment(start=start, resource=resource, squeeze=squeeze)
    if not confirmed(form):  # a move is one tap on a time: ask first, naming who it is with
        return await _confirm(request, booking, change, zone)
    try:
        moved = (await service.amend(booking, change)).booking
    except (Conflict, InvalidInput, SlotTaken) as exc:
        message = " ".join(exc.fields.values()) if isinstance(exc, InvalidInput) else str(exc)
        session_of(request).flash(message)
        return redirect(back)
    await audit(
        request, "booking.squeeze" if squeeze else "booking.move", booking.id, booking, moved
    )
    session_of(request).flash(await _said(request, booking, moved, zone))
    return redirect(back)


async def _said(request: Request, before: Booking, after: Booking, zone: ZoneInfo) -> str:
    names = {r.id: r.name for r in await core(request).catalogue.resources()}
    when = after.start.astimezone(zone).strftime("%a %-d %b, %H:%M")
    with_whom = names.get(after.resource_id, after.resource_id)
    verb = "Moved to" if after.start != before.start else "Still at"
    if after.resource_id != before.resource_id:
        was = names.get(before.resource_id, before.resource_id)
        return f"{verb} {when}, now with {with_whom} (the therapist changed: it was {was})."
    return f"{verb} {when}, still with {with_whom}."


async def _confirm(
    request: Request, booking: Booking, change: Amendment, zone: ZoneInfo
) -> Response:
    names = {r.id: r.name for r in await core(request).catalogue.resources()}
    assert change.start is not None
    when = change.start.astimezone(zone).strftime(WHEN)
    now = booking.start.astimezone(zone).strftime(WHEN)
    current = names.get(booking.resource_id, booking.resource_id)
    target = await _landing(request, booking, change)
    moving = change.start != booking.start
    if target and target != booking.resource_id:
        new = names.get(target, target)
        who = f" with {new} instead of {current}"
    elif target:
        who = f", still with {current}"
    else:
        who = ""
    if moving:
        question = f"Move {booking.client_name}'s {booking.treatment_name} to {when}{who}?"
    else:
        question = f"Change {booking.client_name}'s {booking.treatment_name} at {when}{who}?"
    details = f"It is booked for {now} with {current} now."
    if change.squeeze:
        details += " This books outside the listed times (a squeeze-in): it is recorded."
    fields = {"start": change.start.isoformat(), "squeeze": "yes" if change.squeeze else ""}
    if change.resource is not None:
        fields["resource"] = change.resource or ANYONE
    return await ask_first(
        request,
        question=question,
        details=details,
        action=f"/admin/bookings/{booking.id}/reschedule",
        fields=fields,
        button="Yes, squeeze it in"
        if change.squeeze
        else "Yes, change it"
        if not moving
        else "Yes, move it",
        back=f"/admin/bookings/{booking.id}",
        danger=False,
    )


async def _landing(request: Request, booking: Booking, change: Amendment) -> str:
    """Who the change would leave the booking with, as the engine chooses: the one asked
    for, else its own therapist if free then, else the first free; "" if none is free."""
    keep = change.resource
    if keep is None:
        keep = booking.resource_id if booking.requested else ""
    if keep or change.squeeze:
        return keep or booking.resource_id
    assert change.start is not None
    zone = (await core(request).catalogue.business()).rules.zone
    _, slots = await core(request).bookings.availability(
        booking.treatment_id, change.start.astimezone(zone).date(), ignoring=booking, staff=True
    )
    slot = next((s for s in slots if s.start == change.start), None)
    if slot is None:
        return ""
    return booking.resource_id if booking.resource_id in slot.resource_ids else slot.resource_ids[0]


async def edit(request: Request) -> Response:
    """Staff edit the client's details and the treatment; the claims decide a longer one."""
    form = await submitted(request)
    service = core(request).bookings
    booking = await service.get(request.path_params["booking_id"])
    back = f"/admin/bookings/{booking.id}"
    fields = {name: form.text(name, 300) for name in ("name", "email", "phone")}
    try:
        client = ClientDetails.from_fields(fields, by=Actor.STAFF)
        treatment = form.text("treatment", 64) or None
        change = Amendment(
            client=client,
            treatment_id=treatment if treatment != booking.treatment_id else None,
            squeeze=form.text("squeeze", 3) == "yes",
        )
        changed = (await service.amend(booking, change)).booking
    except (Conflict, InvalidInput, NotFound, SlotTaken) as exc:
        said = " ".join(exc.fields.values()) if isinstance(exc, InvalidInput) else str(exc)
        if change_of_time(exc, form.text("squeeze", 3)):
            said += SQUEEZE_HINT
        session_of(request).flash(said)
        return redirect(back)
    await audit(request, "booking.edit", booking.id, booking, changed)
    session_of(request).flash(f"Saved {changed.client_name}'s booking.")
    return redirect(back)


def change_of_time(refusal: Exception, squeeze: str) -> bool:
    """Whether a refused change could be squeezed in: a time not offered (outside hours), not
    one someone else holds (the claims refuse that even to a squeeze-in)."""
    return not squeeze and isinstance(refusal, InvalidInput) and "start" in refusal.fields
