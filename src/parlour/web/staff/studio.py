"""Running the business: treatments, therapists and rooms with their hours, the business
profile, review moderation and the gallery."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.domain.schedule import Block
from parlour.errors import InvalidInput, NotFound
from parlour.services.catalogue import schedule_to_json
from parlour.services.gallery import MAX_BYTES
from parlour.services.money import amount_example, amount_text
from parlour.web.forms import Form, submitted
from parlour.web.pages import redirect, render, session_of
from parlour.web.parts import core
from parlour.web.staff.audit import audit
from parlour.web.staff.closures import say, settle
from parlour.web.staff.guards import ADMIN, CATALOGUE, SHOWCASE, guarded

TREATMENT_FIELDS = (
    "name",
    "description",
    "category",
    "duration",
    "buffer_before",
    "buffer_after",
    "price",
    "active",
)
RESOURCE_FIELDS = (
    "name",
    "kind",
    "active",
    "closed",
    "blocked",
    "exceptions",
    *(f"hours_{weekday}" for weekday in range(7)),
)
BUSINESS_FIELDS = (
    "name",
    "currency",
    "locale",
    "address",
    "phone",
    "email",
    "timezone",
    "slot_step",
    "min_notice",
    "horizon_days",
    "cancel_cutoff_hours",
)


def _fields(form: Form, names: tuple[str, ...]) -> dict[str, str]:
    return {name: form.text(name, 4000) for name in names}


# -- treatments --------------------------------------------------------------------------------


async def treatments(request: Request) -> Response:
    business = await core(request).catalogue.business()
    return await render(
        request,
        "admin/treatments.html",
        {
            "business": business,
            "treatments": await core(request).catalogue.treatments(),
        },
    )


async def treatment_form(request: Request) -> Response:
    treatment_id = request.path_params.get("treatment_id")
    fields: dict[str, Any] = {
        "active": "on",
        "duration": "60",
        "buffer_before": "0",
        "buffer_after": "0",
    }
    chosen: list[str] = []
    business = await core(request).catalogue.business()
    if treatment_id:
        treatment = await core(request).catalogue.treatment(treatment_id)
        fields = {
            "name": treatment.name,
            "description": treatment.description,
            "category": treatment.category,
            "duration": str(treatment.duration),
            "buffer_before": str(treatment.buffer_before),
            "buffer_after": str(treatment.buffer_after),
            "price": amount_text(treatment.price, business.currency),
            "active": "on" if treatment.active else "",
        }
        chosen = list(treatment.resource_ids)
    return await _treatment_page(request, treatment_id, fields, chosen, {})


async def _treatment_page(
    request: Request,
    treatment_id: str | None,
    fields: dict[str, Any],
    chosen: list[str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    business = await core(request).catalogue.business()
    return await render(
        request,
        "admin/treatment_form.html",
        {
            "business": business,
            "price_hint": f"In {business.currency}. {amount_example(business.currency)}.",
            "treatment_id": treatment_id,
            "fields": fields,
            "chosen": chosen,
            "errors": errors,
            "resources": await core(request).catalogue.resources(),
        },
        status=status,
    )


async def save_treatment(request: Request) -> Response:
    form = await submitted(request)
    treatment_id = request.path_params.get("treatment_id")
    # 404 for an id that is not one
    before = await core(request).catalogue.treatment(treatment_id) if treatment_id else None
    fields, chosen = _fields(form, TREATMENT_FIELDS), form.texts("resource_ids", 64)
    try:
        saved = await core(request).catalogue.save_treatment(fields, chosen, treatment_id)
    except InvalidInput as exc:
        return await _treatment_page(request, treatment_id, fields, chosen, exc.fields, 422)
    await audit(request, "treatment.save", saved.id, before, saved)
    session_of(request).flash(f"Saved {saved.name}.")
    return redirect("/admin/treatments")


# -- resources ---------------------------------------------------------------------------------


async def resources(request: Request) -> Response:
    catalogue = core(request).catalogue
    zone = (await catalogue.business()).rules.zone
    today = datetime.now(UTC).astimezone(zone).date()
    every = await catalogue.resources()
    time_off = {
        r.id: [
            *(f"{day}" for day in sorted(r.schedule.closed) if day >= today),
            *(str(b) for b in r.schedule.blocks if b.last is None or b.last >= today),
        ]
        for r in every
    }
    return await render(request, "admin/resources.html", {"resources": every, "time_off": time_off})


async def resource_form(request: Request) -> Response:
    resource_id = request.path_params.get("resource_id")
    fields: dict[str, Any] = {"kind": "therapist", "active": "on"}
    if resource_id:
        resource = await core(request).catalogue.resource(resource_id)
        schedule = schedule_to_json(resource.schedule)
        fields = {
            "name": resource.name,
            "kind": resource.kind,
            "active": "on" if resource.active else "",
            "closed": "\n".join(
                [*schedule["closed"], *(str(b) for b in resource.schedule.blocks if _leave(b))]
            ),
            "blocked": "\n".join(str(b) for b in resource.schedule.blocks if not _leave(b)),
            "exceptions": "\n".join(
                f"{day} {', '.join(hours)}" for day, hours in schedule["exceptions"].items()
            ),
            **{
                f"hours_{weekday}": ", ".join(hours)
                for weekday, hours in enumerate(schedule["weekly"])
            },
        }
    return await render(
        request,
        "admin/resource_form.html",
        {"resource_id": resource_id, "fields": fields, "errors": {}},
    )


async def save_resource(request: Request) -> Response:
    form = await submitted(request)
    resource_id = request.path_params.get("resource_id")
    catalogue = core(request).catalogue
    before = await catalogue.resource(resource_id) if resource_id else None
    fields = _fields(form, RESOURCE_FIELDS)
    try:
        parsed = catalogue.parse_resource(fields, resource_id)
    except InvalidInput as exc:
        return await render(
            request,
            "admin/resource_form.html",
            {"resource_id": resource_id, "fields": fields, "errors": exc.fields},
            status=422,
        )
    closures = await catalogue.closures()
    saved = replace(
        parsed,
        email=before.email if before else "",
        schedule=replace(parsed.schedule, closures=closures),
    )
    after = [saved if r.id == saved.id else r for r in await catalogue.resources()]

    async def save() -> None:
        await catalogue.put_resource(saved)

    action = f"/admin/resources/{resource_id or 'new'}"
    done = await settle(
        request,
        form,
        after,
        save,
        carry=fields,
        action=action,
        change=f"the change to {saved.name}'s hours",
        back=action,
    )
    if isinstance(done, Response):
        return done
    await audit(request, "resource.save", saved.id, before, saved)
    say(request, f"Saved {saved.name}.", done)
    return redirect("/admin/resources")


def _leave(block: Block) -> bool:
    """Whole days off over a range: shown with the days off, not with the blocked hours."""
    return block.hours is None and not block.weekly and block.last is not None


# -- business ----------------------------------------------------------------------------------


async def business_form(request: Request) -> Response:
    business = await core(request).catalogue.business()
    rules = business.rules
    fields = {
        "name": business.name,
        "currency": business.currency,
        "locale": business.locale,
        "address": business.address,
        "phone": business.phone,
        "email": business.email,
        "timezone": rules.timezone,
        "slot_step": str(rules.slot_step),
        "min_notice": str(rules.min_notice),
        "horizon_days": str(rules.horizon_days),
        "cancel_cutoff_hours": str(rules.cancel_cutoff_hours),
    }
    return await render(request, "admin/business.html", {"fields": fields, "errors": {}})


async def save_business(request: Request) -> Response:
    form = await submitted(request)
    fields = _fields(form, BUSINESS_FIELDS)
    before = await core(request).catalogue.business()
    try:
        after = await core(request).catalogue.save_business(fields)
    except InvalidInput as exc:
        return await render(
            request, "admin/business.html", {"fields": fields, "errors": exc.fields}, status=422
        )
    await audit(request, "business.save", "business", before, after)
    session_of(request).flash("Business details saved.")
    return redirect("/admin/business")


# -- reviews -----------------------------------------------------------------------------------


async def reviews(request: Request) -> Response:
    return await render(
        request, "admin/reviews.html", {"reviews": await core(request).reviews.all()}
    )


async def moderate(request: Request) -> Response:
    form = await submitted(request)
    status = form.text("status", 10)
    if status not in ("approved", "rejected", "pending"):
        session_of(request).flash("Choose approve or reject.")
        return redirect("/admin/reviews")
    review = await core(request).reviews.moderate(request.path_params["booking_id"], status)  # type: ignore[arg-type]
    await audit(request, "review.moderate", review.booking_id, None, review)
    session_of(request).flash(f"Review by {review.name}: {review.status}.")
    return redirect("/admin/reviews")


# -- gallery -----------------------------------------------------------------------------------


async def gallery(
    request: Request, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    return await render(
        request,
        "admin/gallery.html",
        {
            "photos": await core(request).gallery.photos(),
            "errors": errors or {},
            "max_mb": MAX_BYTES // (1024 * 1024),
        },
        status=status,
    )


async def upload(request: Request) -> Response:
    form = await submitted(request)
    upload_file = form.file("photo")
    data = await upload_file.read(MAX_BYTES + 1) if upload_file is not None else b""
    try:
        photo = await core(request).gallery.upload(data, form.text("caption", 500))
    except InvalidInput as exc:
        return await gallery(request, exc.fields, 422)
    await audit(request, "photo.add", photo.id, None, photo)
    session_of(request).flash(f"Added {photo.caption or 'the photo'}.")
    return redirect("/admin/gallery")


async def change_photo(request: Request) -> Response:
    form = await submitted(request)
    photo_id, action = request.path_params["photo_id"], form.text("action", 20)
    service = core(request).gallery
    if action == "delete" and form.text("confirmed", 3) != "yes":
        return await _confirm_delete(request, photo_id)
    try:
        if action == "caption":
            await service.caption(photo_id, form.text("caption", 500))
        elif action in ("earlier", "later"):
            await service.move(photo_id, -1 if action == "earlier" else 1)
        elif action == "delete":
            await service.delete(photo_id)
        if action in ("caption", "earlier", "later", "delete"):
            await audit(
                request, f"photo.{action}", photo_id, None, {"caption": form.text("caption")}
            )
    except (InvalidInput, NotFound) as exc:
        session_of(request).flash(str(exc))
    return redirect("/admin/gallery")


async def _confirm_delete(request: Request, photo_id: str) -> Response:
    photo = next((p for p in await core(request).gallery.photos() if p.id == photo_id), None)
    if photo is None:
        raise NotFound("There is no such photo.")
    return await render(
        request,
        "admin/confirm.html",
        {
            "question": f"Delete the photo “{photo.caption}”?" if photo.caption else "Delete it?",
            "details": "It leaves the public gallery at once, on every instance.",
            "action": f"/admin/gallery/{photo.id}",
            "fields": {"action": "delete"},
            "button": "Yes, delete it",
            "danger": True,
            "back": "/admin/gallery",
        },
    )


routes = [  # under /admin
    *guarded(
        CATALOGUE,  # prices, treatments and hours: not reception's (issue 24)
        [
            Route("/treatments", treatments),
            Route("/treatments/new", treatment_form, methods=["GET"]),
            Route("/treatments/new", save_treatment, methods=["POST"]),
            Route("/treatments/{treatment_id}", treatment_form, methods=["GET"]),
            Route("/treatments/{treatment_id}", save_treatment, methods=["POST"]),
            Route("/resources", resources),
            Route("/resources/new", resource_form, methods=["GET"]),
            Route("/resources/new", save_resource, methods=["POST"]),
            Route("/resources/{resource_id}", resource_form, methods=["GET"]),
            Route("/resources/{resource_id}", save_resource, methods=["POST"]),
        ],
    ),
    *guarded(
        ADMIN,
        [
            Route("/business", business_form, methods=["GET"]),
            Route("/business", save_business, methods=["POST"]),
        ],
    ),
    *guarded(
        SHOWCASE,
        [
            Route("/reviews", reviews),
            Route("/reviews/{booking_id}", moderate, methods=["POST"]),
            Route("/gallery", gallery, methods=["GET"]),
            Route("/gallery", upload, methods=["POST"], max_body_size=MAX_BYTES + 64 * 1024),
            Route("/gallery/{photo_id}", change_photo, methods=["POST"]),
        ],
    ),
]
