"""The public site: home, treatments, booking (treatment, then time, then details), reviews,
gallery."""

from __future__ import annotations

import secrets
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.errors import InvalidInput, SlotTaken
from parlour.services.bookings.records import BookRequest, parse_start
from parlour.services.gallery import Size
from parlour.services.ratelimit import Identity
from parlour.web.forms import submitted
from parlour.web.pages import redirect, render, requested_day
from parlour.web.parts import core
from parlour.web.public.booking_days import time_page
from parlour.web.ratelimit import enforce


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
    business = await core(request).catalogue.business()
    treatment = await core(request).catalogue.treatment(request.path_params["treatment_id"])
    try:
        start = parse_start(request.query_params.get("start", ""))
    except InvalidInput:
        return redirect(f"/book/{treatment.id}")
    return await render(
        request,
        "book_details.html",
        {
            "business": business,
            "zone": business.rules.zone,
            "treatment": treatment,
            "start": start,
            "resource": request.query_params.get("resource", "")[:64],
            "names": {r.id: r.name for r in await core(request).catalogue.resources()},
            "fields": {},
            "errors": {},
            "idempotency_key": secrets.token_urlsafe(16),
        },
    )


async def book(request: Request) -> Response:
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
        await enforce(request, "booking", Identity.email(wanted.client.email))
        booked = await core(request).bookings.book(wanted)
    except InvalidInput as exc:
        context.update(errors=exc.fields, start=_start_or_none(fields["start"]))
        return await render(request, "book_details.html", context, status=422)
    except SlotTaken as exc:
        context.update(start=wanted.start, alternatives=exc.alternatives)
        return await render(request, "book_taken.html", context, status=409)
    return redirect(f"/booking/{booked.token}?new=1")  # a form sent twice lands here too


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
