"""The JSON API under /api, described by its OpenAPI document at /api/openapi.json.

A request without cookies needs no CSRF token; one that carries Parlour's cookies sends it in
``X-CSRF-Token`` (a browser page calling the API). Errors are ``{"error", "message", ...}``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import date as Date  # "date" is the query parameter's name
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BaseModel, Field

from parlour import __version__
from parlour.domain.addresses import EMAIL_PATTERN, MAX_ADDRESS
from parlour.domain.booking import Booking
from parlour.domain.slots import Slot
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.records import (
    MAX_NAME,
    MAX_PHONE,
    NAME_PATTERN,
    PHONE_PATTERN,
    BookRequest,
    ClientDetails,
    utc_instant,
)
from parlour.services.catalogue import Business, CatalogueService
from parlour.services.money import money
from parlour.services.ratelimit import Identity
from parlour.web.api.docs import install_docs
from parlour.web.csrf import verify_csrf
from parlour.web.parts import Parts, core, parts
from parlour.web.ratelimit import enforce


class Problem(BaseModel):
    error: str = Field(examples=["not_found"])
    message: str = Field(examples=["There is no such treatment."])


class Invalid(Problem):
    fields: dict[str, str] = Field(examples=[{"email": "Enter an e-mail address."}])


class RateLimitedOut(Problem):
    retry_after: int


class TreatmentOut(BaseModel):
    id: str
    name: str
    description: str
    category: str
    duration_minutes: int
    price: int = Field(description="In minor units: pence, cents")
    price_text: str = Field(examples=["£45.00"])
    currency: str


class SlotOut(BaseModel):
    start: datetime = Field(description="UTC")
    local_time: str = Field(examples=["10:15"], description="In the business's time zone")
    resources: list[str]


class Availability(BaseModel):
    treatment: str
    date: Date
    timezone: str
    slots: list[SlotOut]


class SlotTakenOut(Problem):
    alternatives: list[SlotOut] = Field(
        default_factory=list, description="Free times that day, when the time was taken"
    )


class BookingIn(BaseModel):
    """The schema states each rule the booking form's parser keeps (``ClientDetails.from_fields``);
    the parser, not pydantic, checks the patterns, so a refusal says what to change."""

    treatment: str = Field(max_length=64)
    start: AwareDatetime = Field(description="With its offset, e.g. 2026-12-01T10:00:00Z")
    name: str = Field(
        min_length=1,
        max_length=MAX_NAME,
        json_schema_extra={"pattern": NAME_PATTERN},
        description="Letters, digits, spaces and punctuation; no control characters",
    )
    email: str = Field(
        max_length=MAX_ADDRESS,
        json_schema_extra={"pattern": EMAIL_PATTERN},
        description=(
            "One address, as RFC 5321's mailbox without comments, quotes or brackets; kept and "
            "shown as sent. The API also accepts an internationalised domain, and a non-ASCII "
            "part before the @ when the business's mail server can deliver to it"
        ),
        examples=["zoe@example.com"],
    )
    phone: str = Field(
        min_length=5,
        max_length=MAX_PHONE,
        json_schema_extra={"pattern": PHONE_PATTERN},
        description="Digits, spaces and + ( ) . -, at least five digits",
        examples=["07700 900123"],
    )
    resource: str = Field("", max_length=64, description="A therapist or room; any if empty")


class RescheduleIn(BaseModel):
    start: AwareDatetime


class BookingOut(BaseModel):
    id: str
    treatment: str
    treatment_name: str
    resource: str
    start: datetime
    end: datetime
    local_start: str = Field(examples=["Tue 1 Dec 2026, 10:00"])
    status: str
    client_name: str
    email: str
    phone: str
    price: int


class BookingCreated(BaseModel):
    booking: BookingOut
    manage_token: str = Field(description="Opens the booking; shown only here, stored hashed")
    manage_url: str


def _slot(slot: Slot, business: Business) -> SlotOut:
    local = slot.start.astimezone(business.rules.zone)
    return SlotOut(
        start=slot.start, local_time=local.strftime("%H:%M"), resources=list(slot.resource_ids)
    )


def _booking(booking: Booking, business: Business) -> BookingOut:
    local = booking.start.astimezone(business.rules.zone)
    return BookingOut(
        id=booking.id,
        treatment=booking.treatment_id,
        treatment_name=booking.treatment_name,
        resource=booking.resource_id,
        start=booking.start,
        end=booking.end,
        local_start=local.strftime("%a %-d %b %Y, %H:%M"),
        status=booking.status.value,
        client_name=booking.client_name,
        email=booking.email,
        phone=booking.phone,
        price=booking.price,
    )


def _services(request: Request) -> tuple[CatalogueService, BookingService]:
    return core(request).catalogue, core(request).bookings


async def _csrf(request: Request) -> None:
    await verify_csrf(request)


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body is not JSON"},
    403: {"model": Problem, "description": "Refused as cross-site (a browser with our cookies)"},
    404: {"model": Problem, "description": "No such treatment or booking"},
    413: {"model": Problem, "description": "The body is larger than 1 MiB"},
    422: {"model": Invalid, "description": "Invalid input; every field named"},
    503: {"model": Problem, "description": "Storage is briefly unavailable; retry after a moment"},
}


class _JsonBodyRoute(APIRoute):
    """A body that is not JSON is a 400 that says so and where, not a 422 about a "field"
    named after the character where parsing stopped (pydantic's location of the error)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                broken = [e for e in exc.errors() if e.get("type") == "json_invalid"]
                if not broken:
                    raise
                where, why = broken[0]["loc"][-1], broken[0].get("ctx", {}).get("error", "")
                message = (
                    f"The body is not valid JSON ({why or 'unreadable'} at character {where}). "
                    "Send one JSON object, as the API's document describes."
                )
                raise HTTPException(400, message) from None

        return checked


router = APIRouter(dependencies=[Depends(_csrf)], responses=ERRORS, route_class=_JsonBodyRoute)


@router.get("/treatments", response_model=list[TreatmentOut])
async def list_treatments(request: Request) -> list[TreatmentOut]:
    catalogue, _ = _services(request)
    business = await catalogue.business()
    return [
        TreatmentOut(
            id=t.id,
            name=t.name,
            description=t.description,
            category=t.category,
            duration_minutes=t.duration,
            price=t.price,
            price_text=money(t.price, business.currency, business.locale),
            currency=business.currency,
        )
        for t in await catalogue.treatments(active_only=True)
    ]


@router.get("/availability", response_model=Availability)
async def availability(
    request: Request,
    treatment: Annotated[str, Query(max_length=64)],
    date: Annotated[Date, Query(description="A day in the business's time zone")],
) -> Response:
    catalogue, bookings = _services(request)
    business = await catalogue.business()
    found, slots = await bookings.availability(treatment, date)

    def encoded() -> bytes:
        answer = Availability(
            treatment=found.id,
            date=date,
            timezone=business.rules.timezone,
            slots=[_slot(s, business) for s in slots],
        )
        return answer.model_dump_json().encode()

    # Building and encoding the answer was most of a look-up's cost once the day was kept in
    # memory (an empty day lists every free start). It is encoded again whenever the business,
    # the treatment or any slot is not the very object it was encoded from: the day cache
    # replaces those objects, never changes them, when a booking or the catalogue changes.
    body = core(request).day_cache.memo(("api", found.id, date), (business, found, *slots), encoded)
    return Response(body, media_type="application/json")


@router.post(
    "/bookings",
    status_code=201,
    response_model=BookingCreated,
    responses={
        200: {"model": BookingCreated, "description": "A repeat of an earlier request"},
        409: {"model": SlotTakenOut, "description": "The time was just taken"},
        429: {"model": RateLimitedOut, "description": "Too many attempts"},
    },
)
async def create_booking(
    request: Request,
    body: BookingIn,
    idempotency_key: Annotated[str, Header(max_length=200)] = "",
) -> Response:
    """Book a time. Send an ``Idempotency-Key`` to make retries safe: a repeat answers 200 with
    the booking the first request made."""
    catalogue, bookings = _services(request)
    wanted = BookRequest(
        treatment_id=body.treatment,
        start=utc_instant(body.start),
        client=ClientDetails.from_fields(body.model_dump(include={"name", "email", "phone"})),
        resource=body.resource.strip() or None,
        idempotency_key=idempotency_key,
    )
    await enforce(request, "booking", Identity.email(wanted.client.email))
    booked = await bookings.book(wanted)
    business = await catalogue.business()
    created = BookingCreated(
        booking=_booking(booked.booking, business),
        manage_token=booked.token,
        manage_url=parts(request).links.manage(booked.token),
    )
    return Response(
        created.model_dump_json(),
        status_code=201 if booked.created else 200,
        media_type="application/json",
    )


@router.get("/bookings/{token}", response_model=BookingOut)
async def get_booking(request: Request, token: str) -> BookingOut:
    catalogue, bookings = _services(request)
    return _booking(await bookings.by_token(token), await catalogue.business())


@router.post(
    "/bookings/{token}/cancel",
    response_model=BookingOut,
    responses={409: {"model": Problem, "description": "Too late, or not confirmed"}},
)
async def cancel_booking(request: Request, token: str) -> BookingOut:
    catalogue, bookings = _services(request)
    cancelled = await bookings.cancel(await bookings.by_token(token), by_client=True)
    return _booking(cancelled.booking, await catalogue.business())


@router.post(
    "/bookings/{token}/reschedule",
    response_model=BookingOut,
    responses={409: {"model": SlotTakenOut, "description": "Not free, too late, or cancelled"}},
)
async def reschedule_booking(request: Request, token: str, body: RescheduleIn) -> BookingOut:
    catalogue, bookings = _services(request)
    booking = await bookings.by_token(token)
    moved = await bookings.reschedule(booking, utc_instant(body.start), by_client=True)
    return _booking(moved.booking, await catalogue.business())


def build_api(app_parts: Parts) -> FastAPI:
    """The API application, sharing the site's parts (services, settings, limiter)."""
    api = FastAPI(
        title="Parlour API",
        version=__version__,
        description="Treatments, availability and bookings. Times are UTC with offsets.",
        docs_url=None,  # served by install_docs: from the package, under the site's CSP
        redoc_url=None,
    )
    api.state.parts = app_parts
    api.include_router(router)
    install_docs(api)
    return api
