"""Clients are people (issue 24): a phone number joins nobody (defect 5), staff correct a
client's details and merge two records of one person (asked first, audited), and an alert note
shows on the client's appointments: the booking page, today's list and the calendar."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.domain.booking import Booking
from parlour.services.bookings.client_keys import client_id, client_key
from parlour.web.parts import core, parts

from support.salon import FACIAL, LONDON, MASSAGE, ask, at, client, upcoming_weekday
from support.web import post_form, staffed

SHARED = "07700 900111"


@dataclass
class Salon:
    app: Starlette
    staff: httpx.AsyncClient
    day: date
    ann: Booking
    """Ann Example, booked online with her e-mail and the family's phone."""
    kid: Booking
    """Kid Example, booked by phone by staff with the same number and no e-mail."""


def phone_only_id(name: str, phone: str = SHARED) -> str:
    return client_id(client_key("", phone, name))


def ann_id() -> str:
    return client_id(client_key("ann@example.com", ""))


@pytest.fixture
async def salon(tmp_path: Path) -> AsyncIterator[Salon]:
    async with staffed(tmp_path) as (app, staff):
        day = upcoming_weekday()
        bookings = core(app).bookings
        ann = await bookings.book(
            ask(
                {
                    "treatment": MASSAGE.id,
                    "start": at(10, day=day),
                    **client(1, name="Ann Example", email="ann@example.com", phone=SHARED),
                }
            )
        )
        kid = await bookings.book(
            ask(
                {
                    "treatment": FACIAL.id,
                    "start": at(14, day=day),
                    **client(2, name="Kid Example", email="", phone=SHARED),
                },
                staff=True,
            )
        )
        yield Salon(app, staff, day, ann.booking, kid.booking)


async def test_a_phone_only_client_sharing_a_number_is_their_own_client(salon: Salon) -> None:
    listed = (await salon.staff.get("/admin/clients")).text
    assert "Ann Example" in listed
    assert "Kid Example" in listed  # before issue 24 she vanished into Ann
    ann = (await salon.staff.get(f"/admin/clients/{ann_id()}")).text
    assert f"/admin/bookings/{salon.ann.id}" in ann
    assert f"/admin/bookings/{salon.kid.id}" not in ann
    kid_page = f"/admin/clients/{phone_only_id('Kid Example')}"
    kid = await salon.staff.get(kid_page)
    assert kid.status_code == 200
    assert f"/admin/bookings/{salon.kid.id}" in kid.text
    assert f"/admin/bookings/{salon.ann.id}" not in kid.text
    noted = await post_form(salon.staff, kid_page, f"{kid_page}/notes", note="Nut allergy.")
    assert noted.status_code == 303
    assert "Nut allergy." in (await salon.staff.get(kid_page)).text
    assert "Nut allergy." not in (await salon.staff.get(f"/admin/clients/{ann_id()}")).text


async def test_two_people_booked_by_phone_with_one_number_are_two_clients(salon: Salon) -> None:
    mum = await core(salon.app).bookings.book(
        ask(
            {
                "treatment": MASSAGE.id,
                "start": at(12, day=salon.day),
                **client(3, name="Mum Example", email="", phone=SHARED),
            },
            staff=True,
        )
    )
    found = (await salon.staff.get("/admin/clients", params={"q": "0111"})).text
    assert {"Ann Example", "Kid Example", "Mum Example"} <= set(
        re.findall(r">([^<]+)</a></td>", found)
    )
    mum_page = (await salon.staff.get(f"/admin/clients/{phone_only_id('Mum Example')}")).text
    assert f"/admin/bookings/{mum.booking.id}" in mum_page
    assert f"/admin/bookings/{salon.kid.id}" not in mum_page


async def test_staff_merge_two_records_of_one_person_after_a_second_step(salon: Salon) -> None:
    page = f"/admin/clients/{ann_id()}"
    kid = phone_only_id("Kid Example")
    candidates = (await salon.staff.get(page, params={"merge": "kid"})).text
    assert f'name="other" value="{kid}"' in candidates
    asked = await post_form(salon.staff, page, f"{page}/merge", other=kid)
    assert asked.status_code == 200
    assert "Merge Kid Example into Ann Example?" in asked.text
    assert "Kid Example" in (await salon.staff.get("/admin/clients")).text  # not merged yet
    done = await post_form(salon.staff, page, f"{page}/merge", other=kid, confirmed="yes")
    assert done.status_code == 303
    assert done.headers["location"] == page
    merged = (await salon.staff.get(page)).text
    assert f"/admin/bookings/{salon.kid.id}" in merged
    assert f"/admin/bookings/{salon.ann.id}" in merged
    assert "Kid Example" not in (await salon.staff.get("/admin/clients")).text
    moved = await core(salon.app).bookings.get(salon.kid.id)
    assert (moved.client_name, moved.email) == ("Ann Example", "ann@example.com")
    audit = (await salon.staff.get("/admin/audit", params={"what": "client.merge"})).text
    assert "client.merge" in audit
    assert "Kid Example" in audit  # who was merged, in the log's before


async def test_staff_edit_a_clients_details_and_the_notes_follow(salon: Salon) -> None:
    page = f"/admin/clients/{phone_only_id('Kid Example')}"
    await post_form(salon.staff, page, f"{page}/notes", note="Prefers mornings.")
    bad = await post_form(salon.staff, page, f"{page}/details", name="", email="kid@", phone=SHARED)
    assert bad.status_code == 422
    assert 'aria-invalid="true"' in bad.text
    taken = await post_form(
        salon.staff, page, f"{page}/details", name="Kid", email="ann@example.com", phone=SHARED
    )
    assert taken.status_code == 409
    assert "Ann Example already has that e-mail address" in taken.text
    saved = await post_form(
        salon.staff, page, f"{page}/details", name="Kid Example", email="kid@example.com",
        phone="07700 900333",
    )  # fmt: skip
    assert saved.status_code == 303
    new_page = f"/admin/clients/{client_id(client_key('kid@example.com', ''))}"
    assert saved.headers["location"] == new_page
    shown = (await salon.staff.get(new_page)).text
    assert "kid@example.com" in shown
    assert "Prefers mornings." in shown
    changed = await core(salon.app).bookings.get(salon.kid.id)
    assert (changed.email, changed.phone) == ("kid@example.com", "07700 900333")
    assert (await salon.staff.get(page)).status_code == 404
    audit = (await salon.staff.get("/admin/audit", params={"what": "client.edit"})).text
    assert "kid@example.com" in audit


async def test_an_alert_note_shows_on_the_appointment_today_and_the_calendar(
    salon: Salon,
) -> None:
    page = f"/admin/clients/{phone_only_id('Kid Example')}"
    await post_form(salon.staff, page, f"{page}/notes", note="Likes tea.")
    added = await post_form(
        salon.staff, page, f"{page}/notes", note="Allergic to latex.", alert="yes"
    )
    assert added.status_code == 303
    booking = (await salon.staff.get(f"/admin/bookings/{salon.kid.id}")).text
    assert "Allergic to latex." in booking
    assert "Likes tea." not in booking
    assert (
        "Allergic to latex." not in (await salon.staff.get(f"/admin/bookings/{salon.ann.id}")).text
    )
    listed = (await salon.staff.get("/admin/clients")).text
    assert 'Kid Example</a> <strong class="alert-tag">Alert</strong>' in listed
    assert 'Ann Example</a> <strong class="alert-tag">' not in listed
    calendar = await salon.staff.get("/admin/calendar", params={"date": salon.day.isoformat()})
    assert calendar.text.count("Allergic to latex.") >= 1
    alerts = await core(salon.app).clients.alerts()
    assert alerts.of(salon.kid) == ["Allergic to latex."]
    assert alerts.of(salon.ann) == ()
    # Today's list (its rows are admin/_bookings.html, the day being whatever today is).
    rows = (
        parts(salon.app)
        .templates.get_template("admin/_bookings.html")
        .render(
            bookings=[salon.ann, salon.kid],
            zone=LONDON,
            names={},
            next="/admin",
            alerts=alerts,
            csrf_input=lambda: "",
        )
    )
    ann_row, kid_row = rows.split("</tr>")[1:3]
    assert "Allergic to latex." in kid_row
    assert "Alert" not in ann_row
    shown = (await salon.staff.get(page)).text
    note_id = re.findall(r'name="note_id" value="([^"]+)"', shown)[-1]
    await post_form(salon.staff, page, f"{page}/notes/remove", note_id=note_id, confirmed="yes")
    assert (
        "Allergic to latex." not in (await salon.staff.get(f"/admin/bookings/{salon.kid.id}")).text
    )


async def test_notes_written_on_a_number_before_issue_24_stay_with_its_phone_only_clients(
    salon: Salon,
) -> None:
    # Before issue 24 every phone-only booking of a number was one client, keyed by the number
    # alone: its notes are shown with each phone-only client of that number, and a merge takes
    # a copy (another person of that number may still need them).
    legacy = f"n:{client_id('tel:07700900111')}"
    note = {"id": "n0ld", "text": "Prefers the quiet room.", "author": "desk", "at": "2026-01-01"}
    await parts(salon.app).storage.kv("clients").set_item(legacy, [note])
    kid_page = f"/admin/clients/{phone_only_id('Kid Example')}"
    assert "Prefers the quiet room." in (await salon.staff.get(kid_page)).text
    ann_page = f"/admin/clients/{ann_id()}"
    assert "Prefers the quiet room." not in (await salon.staff.get(ann_page)).text
    kid = phone_only_id("Kid Example")
    await post_form(salon.staff, ann_page, f"{ann_page}/merge", other=kid, confirmed="yes")
    assert "Prefers the quiet room." in (await salon.staff.get(ann_page)).text
    assert await parts(salon.app).storage.kv("clients").get_item(legacy) == [note]
