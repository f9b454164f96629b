"""What each role of a salon's staff may do: pure, so the web guard and the tests read one table.

- ``admin``: the owner or manager: everything.
- ``reception``: the desk: today's list, the calendar, bookings, clients, reviews and the gallery;
  not prices, treatments, therapists and rooms or their hours, the business, staff accounts, the
  audit log, the outbox or the rate limits.
- ``therapist``: their own calendar: an account linked to one therapist (a resource) sees and
  works only that therapist's bookings (their calendar, a booking's page, its status and time).

Before issue 24 the roles were ``admin`` and ``staff``. A stored account or a live session that
still says ``staff`` reads as ``reception`` (:func:`role_of`), so an existing deployment keeps
working with nothing to migrate: what ``staff`` could do then, less the catalogue and hours.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

Role = Literal["admin", "reception", "therapist"]
ROLES: tuple[Role, ...] = ("admin", "reception", "therapist")
LEGACY: dict[str, Role] = {"staff": "reception"}
"""Role names an older Parlour stored, and what they mean now."""

TITLES: dict[str, str] = {
    "admin": "Owner / admin",
    "reception": "Reception",
    "therapist": "Therapist",
}
"""How a role is named to people."""


class Area(StrEnum):
    """A group of staff pages (and their actions) that one rule admits or refuses."""

    DESK = "desk"
    """Today, the calendar and bookings (a therapist: only their own)."""
    CLIENTS = "clients"
    """Client records and their notes."""
    SHOWCASE = "showcase"
    """Reviews' moderation and the gallery."""
    CATALOGUE = "catalogue"
    """Treatments and prices, therapists and rooms, their hours and days off."""
    ADMIN = "admin"
    """The business, staff accounts, audit log, outbox, rate limits, client export and erasure."""


ALLOWED: dict[Role, frozenset[Area]] = {
    "admin": frozenset(Area),
    "reception": frozenset({Area.DESK, Area.CLIENTS, Area.SHOWCASE}),
    "therapist": frozenset({Area.DESK}),
}


def role_of(name: str) -> Role:
    """The role ``name`` stands for now (``staff`` is ``reception``); anything unknown has the
    least rights, ``therapist``, so a damaged record never grants more."""
    if name in ROLES:
        return name
    return LEGACY.get(name, "therapist")


def may(role: str, area: Area) -> bool:
    return area in ALLOWED[role_of(role)]


def parse_role(name: str) -> Role | None:
    """A role as typed in a form or on the command line (old names accepted); ``None``: none."""
    cleaned = name.strip().lower()
    if cleaned in ROLES or cleaned in LEGACY:
        return role_of(cleaned)
    return None
