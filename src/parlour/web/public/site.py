"""The public site: home, treatments, booking (treatment, then time, then details), reviews,
gallery."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.domain.booking import Status
from parlour.errors import Conflict, InvalidInput, SlotTaken
from parlour.services.bookings.offer import refusal
from parlour.services.bookings.records import Booked, BookRequest, parse_start
from parlour.services.bookings.rules import nearest
from parlour.services.gallery import Size
from parlour.services.ratelimit import Identity
from parlour.web.forms import submitted
from parlour.web.pages import redirect, render, requested_day
from parlour.web.parts import core
from parlour.web.public.booking_days import time_page
from parlour.web.public.booking_form import booking_key, forget_details, keep_details, kept_details
from parlour.web.ratelimit import enforce, give_back


async def home(request: Request) -> Response:
    business = await core(request).catalogue.business()
    treatments = await core(request).catalogue.treatments(active_only=True)
    reviews = await core(request).reviews.public()
    context = {"business": business, "treatments": treatments[:6], "summary": reviews}
    return await render(request, "home.html", context)


async def treatments(request: Request) -> Response:
    business = await core(request).catalogue.business()
    offered = await core(request).catalogue.treatments(active_only=True)
    by_category: dict[str, list[object]] = {}
    for treatment in offered:
        by_category.setdefault(treatment.category or "Treatments", []).append(treatment)
    return await render(request, "treatments.html", {"business": business, "groups": by_category})


async def choose_time(request: Request) -> Response:
    business = await core(request).catalogue.business()
    zone = business.rules.zone
    today = await core(request).days.today()
    day, problem = requested_day(request, today)
    treatment = await core(request).catalogue.treatment(request.path_params["treatment_id"])
    days = await time_page(request, treatment.id, day)  # slots, therapist choice, month
    return await render(
        request,
        "book_time.html",
        {
            "business": business,
            "zone": zone,
            "treatment": treatment,
            "day": day,
            "today": today,
            "problem": problem,
            **days,
        },
    )


async def details_page(request: Request) -> Response:
    """The details form for one time, or, before anyone types anything, why that time cannot
    be booked (422); with ``taken=1``, that the form just lost it, and the nearest free times
    (409). A time booked meanwhile still shows the form: it may be the visitor's own booking
    (Back after booking), which sending the form again finds."""
    business = await core(request).catalogue.business()
    treatment = await core(request).catalogue.treatment(request.path_params["treatment_id"])
    try:
        start = parse_start(request.query_params.get("start", ""))
    except InvalidInput:
        return redirect(f"/book/{treatment.id}")
    resources = await core(request).catalogue.resources()
    resource = request.query_params.get("resource", "")[:64]
    zone = business.rules.zone
    context: dict[str, object] = {
        "business": business,
        "zone": zone,
        "treatment": treatment,
        "start": start,
        "resource": resource,
        "names": {r.id: r.name for r in resources},
    }
    now = core(request).days.now()
    refused = refusal(business, treatment, resources, start, now, resource)
    if refused:
        day = max(start.astimezone(zone).date(), now.astimezone(zone).date())
        context.update(refused=refused, day=day, fields={}, errors={})
        return await render(request, "book_details.html", context, status=422)
    if request.query_params.get("taken") == "1":  # where the form sends a time it lost
        day = start.astimezone(zone).date()
        _, slots = await core(request).bookings.availability(treatment.id, day)
        context.update(alternatives=nearest(slots, start, resource))
        return await render(request, "book_taken.html", context, status=409)
    context.update(
        fields=kept_details(request), errors={}, idempotency_key=secrets.token_urlsafe(16)
    )
    return await render(request, "book_details.html", context)


async def book(request: Request) -> Response:
    """Book, then show the booking (303). A time lost meanwhile sends the client to that
    time's details page, which says so (303, so Back never asks to send the form again); only
    a booking made counts against the client's limit (``booking``), every try against the
    address's (``booking_attempt``), which is what stops a flood."""
    form = await submitted(request)
    business = await core(request).catalogue.business()
    treatment = await core(request).catalogue.treatment(request.path_params["treatment_id"])
    fields = {
        name: form.text(name, 300) for name in ("start", "name", "email", "phone", "resource")
    }
    fields["treatment"] = treatment.id
    key = form.text("idempotency_key", 200)
    context = {
        "business": business,
        "zone": business.rules.zone,
        "treatment": treatment,
        "resource": fields["resource"],
        "fields": fields,
        "idempotency_key": key,
    }
    try:
        # Validated before it counts against the limit (as the API does): a bad form naming
        # someone's address must not lock them out.
        wanted = BookRequest.from_fields(fields, idempotency_key=key)
    except InvalidInput as exc:
        context.update(errors=exc.fields, start=_start_or_none(fields["start"]))
        return await render(request, "book_details.html", context, status=422)
    await enforce(request, "booking_attempt")
    counted = await enforce(request, "booking", Identity.email(wanted.client.email))
    try:
        booked = await _book(request, wanted)
    except InvalidInput as exc:
        await give_back(request, counted)
        errors = dict(exc.fields)
        if "start" in errors:  # say why, naming the notice, not only "not offered"
            resources = await core(request).catalogue.resources()
            now = core(request).days.now()
            why = refusal(business, treatment, resources, wanted.start, now, fields["resource"])
            errors["start"] = why or errors["start"]
        context.update(errors=errors, start=wanted.start)
        return await render(request, "book_details.html", context, status=422)
    except SlotTaken:
        await give_back(request, counted)
        query = urlencode(
            {"start": wanted.start.isoformat(), "resource": fields["resource"], "taken": "1"}
        )
        taken = redirect(f"/book/{treatment.id}/details?{query}")
        keep_details(request, taken, fields)
        return taken
    except Conflict:
        await give_back(request, counted)
        raise
    if not booked.created:  # the same form again: the booking it made, counted once
        await give_back(request, counted)
    done = redirect(f"/booking/{booked.token}?new=1")
    forget_details(request, done)
    return done


async def _book(request: Request, wanted: BookRequest) -> Booked:
    """Book under the key this visitor's booking of that time for that person has, so that
    sending it again finds the booking made; a key whose booking was cancelled or moved since
    gives way to the form's own key (the client is booking that time anew)."""
    bookings = core(request).bookings
    client = wanted.client
    own = booking_key(request, wanted.treatment_id, wanted.start, client.name, client.email)
    if own:
        try:
            booked = await bookings.book(replace(wanted, idempotency_key=own))
        except Conflict:
            booked = None
        if booked is not None and (
            booked.created
            or (
                booked.booking.status is not Status.CANCELLED
                and booked.booking.start == wanted.start
            )
        ):
            return booked
    return await bookings.book(wanted)


def _start_or_none(text: str) -> datetime | None:
    try:
        return parse_start(text)
    except InvalidInput:
        return None


async def reviews(request: Request) -> Response:
    business = await core(request).catalogue.business()
    summary = await core(request).reviews.public()
    return await render(request, "reviews.html", {"business": business, "summary": summary})


async def gallery(request: Request) -> Response:
    business = await core(request).catalogue.business()
    photos = await core(request).gallery.photos()
    return await render(request, "gallery.html", {"business": business, "photos": photos})


async def photo(request: Request) -> Response:
    size: Size = "thumb" if request.url.path.endswith("/thumb.webp") else "full"
    photo_id = request.path_params["photo_id"]
    if request.headers.get("if-none-match") == f'"{photo_id}-{size}"':
        return Response(status_code=304)
    data = await core(request).gallery.image(photo_id, size)
    return Response(
        data,
        media_type="image/webp",
        headers={  # a photo id is never reused for other bytes: cache it for good
            "cache-control": "public, max-age=31536000, immutable",
            "etag": f'"{photo_id}-{size}"',
        },
    )


routes = [
    Route("/", home),
    Route("/treatments", treatments),
    Route("/book", treatments),
    Route("/reviews", reviews),
    Route("/gallery", gallery),
]
booking_routes = [  # under /book
    Route("/{treatment_id}", choose_time),
    Route("/{treatment_id}/details", details_page, methods=["GET"]),
    Route("/{treatment_id}/details", book, methods=["POST"]),
]
photo_routes = [  # under /gallery
    Route("/{photo_id}.webp", photo),
    Route("/{photo_id}/thumb.webp", photo),
]
