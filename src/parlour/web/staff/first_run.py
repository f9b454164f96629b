"""The first-run guide on ``/admin``: what a salon that signed up still needs before clients can
book (its business details, a treatment, a therapist's hours), shown to its admins until done.

A single-salon deployment was set up by its operator (``parlour demo``, or by hand) and gets no
guide; with many salons, each that signed up itself does while a step is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from parlour.web.pages import session_of
from parlour.web.parts import core, parts


@dataclass(frozen=True, slots=True)
class Step:
    label: str
    href: str
    done: bool


async def first_run(request: Request) -> list[Step]:
    """The guide's steps, or none once they are all done (or for staff, or one salon)."""
    record = session_of(request).record
    if parts(request).runtime.tenants is None or record is None or record.role != "admin":
        return []
    catalogue = core(request).catalogue
    business = await catalogue.business()
    treatments = await catalogue.treatments()
    hours = any(
        resource.active and any(resource.schedule.weekly)
        for resource in await catalogue.resources()
    )
    steps = [
        Step(
            "Add your address and phone number",
            "/admin/business",
            bool(business.address or business.phone),
        ),
        Step(
            "Add a treatment, with its price and length", "/admin/treatments/new", bool(treatments)
        ),
        Step("Add a therapist and their weekly hours", "/admin/resources/new", hours),
    ]
    return [] if all(step.done for step in steps) else steps
