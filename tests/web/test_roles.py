"""Issue 24: roles that fit a salon (owner/admin, reception, therapist), deactivating an account,
and the old "staff" role still working as reception."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.domain.booking import Booking
from parlour.services.accounts import User
from parlour.services.bookings.client_keys import client_id, client_key
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import FACIAL, MASSAGE, ask, at, client, furnish, upcoming_weekday
from support.web import form_token, log_in, page_routes, post_form, running

PASSWORD = "correct horse battery"


@dataclass
class Salon:
    app: Starlette
    admin: httpx.AsyncClient
    ann: Booking
    bob: Booking

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )


@pytest.fixture
async def salon(tmp_path: Path) -> AsyncIterator[Salon]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app) as admin:
        await furnish(parts(app).storage.kv)
        accounts = core(app).accounts
        await accounts.create_user("owner@example.com", "admin", PASSWORD)
        await accounts.create_user("desk@example.com", "reception", PASSWORD)
        await accounts.create_user("ann@example.com", "therapist", PASSWORD, resource_id="r_ann")
        await log_in(admin, "owner@example.com", PASSWORD)
        day = upcoming_weekday()
        book = core(app).bookings.book
        with_ann = await book(ask({"treatment": MASSAGE.id, "start": at(10, day=day), **client()}))
        wanted = {"treatment": FACIAL.id, "start": at(10, day=day), "resource": "r_bob"}
        with_bob = await book(ask({**wanted, **client(1)}))
        assert with_ann.booking.resource_id == "r_ann"
        assert with_bob.booking.resource_id == "r_bob"
        yield Salon(app, admin, with_ann.booking, with_bob.booking)


async def test_reception_runs_bookings_and_clients_but_not_prices_hours_or_staff(
    salon: Salon,
) -> None:
    """Defect 20: the staff role could change prices, treatments and hours."""
    async with salon.client() as desk:
        await log_in(desk, "desk@example.com", PASSWORD)
        for path in ["/admin", "/admin/calendar", "/admin/bookings/new", "/admin/clients"]:
            assert (await desk.get(path)).status_code == 200, path
        assert (await desk.get(f"/admin/bookings/{salon.bob.id}")).status_code == 200
        for path in [
            "/admin/treatments",
            f"/admin/treatments/{FACIAL.id}",
            "/admin/resources/r_ann",
            "/admin/business",
            "/admin/users",
            "/admin/audit",
        ]:
            assert (await desk.get(path)).status_code == 403, path
        # Not only the page: the change itself is refused (the token from a page it may see).
        html = (await desk.get("/admin/calendar")).text
        token = html.split('name="csrf_token" value="')[1].split('"')[0]
        price = await desk.post(
            f"/admin/treatments/{FACIAL.id}", data={"csrf_token": token, "price": "1"}
        )
        assert price.status_code == 403
        hours = await desk.post("/admin/resources/r_ann", data={"csrf_token": token})
        assert hours.status_code == 403
        nav = (await desk.get("/admin")).text
        assert 'href="/admin/treatments"' not in nav
        assert 'href="/admin/clients"' in nav


async def test_a_therapist_sees_and_works_only_their_own_bookings(salon: Salon) -> None:
    async with salon.client() as ann:
        await log_in(ann, "ann@example.com", PASSWORD)
        day = salon.ann.start.date().isoformat()
        everyone = await ann.get(f"/admin/calendar?date={day}&resource=r_bob")
        assert everyone.status_code == 200
        assert "Client 0" in everyone.text
        assert 'href="/admin/bookings/new' not in everyone.text  # no free times to book
        assert "Client 1" not in everyone.text
        assert (await ann.get(f"/admin/bookings/{salon.ann.id}")).status_code == 200
        assert (await ann.get(f"/admin/bookings/{salon.bob.id}")).status_code == 403
        page = f"/admin/bookings/{salon.ann.id}"
        token = (await ann.get(page)).text.split('name="csrf_token" value="')[1].split('"')[0]
        other = await ann.post(
            f"/admin/bookings/{salon.bob.id}/status",
            data={"csrf_token": token, "status": "cancelled", "confirmed": "yes"},
        )
        assert other.status_code == 403
        landing = await ann.get("/admin")
        assert landing.status_code == 303
        assert landing.headers["location"] == "/admin/calendar"
        for path in ["/admin/clients", "/admin/bookings/new", "/admin/treatments", "/admin/users"]:
            assert (await ann.get(path)).status_code == 403, path
        assert (await ann.get("/admin/account")).status_code == 200


async def test_a_therapist_account_names_its_therapist(salon: Salon) -> None:
    page = "/admin/users"
    answer = await post_form(
        salon.admin, page, page, email="t@example.com", role="therapist", password=PASSWORD
    )
    assert answer.status_code == 400
    assert "Choose the therapist" in answer.text
    made = await post_form(
        salon.admin,
        page,
        page,
        email="t@example.com",
        role="therapist",
        resource="r_bob",
        password=PASSWORD,
    )
    assert made.status_code == 303
    user = await core(salon.app).accounts.get("t@example.com")
    assert user is not None
    assert (user.role, user.resource_id) == ("therapist", "r_bob")


async def test_an_old_staff_account_and_its_session_keep_working_as_reception(
    salon: Salon,
) -> None:
    """A deployment from before issue 24 has accounts (and live sessions) saying "staff"."""
    users = parts(salon.app).storage.kv("users")
    await core(salon.app).accounts.create_user("old@example.com", "reception", PASSWORD)
    record = await users.get_item("old@example.com")
    assert isinstance(record, dict)
    await users.set_item("old@example.com", {**record, "role": "staff"})
    old = await core(salon.app).accounts.get("old@example.com")
    assert old is not None
    assert old.role == "reception"
    assert [u.role for u in await core(salon.app).accounts.list_users()].count("reception") == 2
    async with salon.client() as desk:
        assert (await log_in(desk, "old@example.com", PASSWORD)).status_code == 303
        assert (await desk.get("/admin/clients")).status_code == 200
        assert (await desk.get("/admin/treatments")).status_code == 403
    # "staff" is still accepted where a role is typed (the command line, an old script).
    made = await core(salon.app).accounts.create_user("cli@example.com", "staff", PASSWORD)
    assert made.role == "reception"


async def test_a_switched_off_account_cannot_log_in_its_sessions_end_its_history_stays(
    salon: Salon,
) -> None:
    async with salon.client() as desk:
        await log_in(desk, "desk@example.com", PASSWORD)
        assert (await desk.get("/admin/clients")).status_code == 200
        asked = await post_form(
            salon.admin,
            "/admin/users",
            "/admin/users/active",
            email="desk@example.com",
            active="no",
        )
        assert "Switch off the account of desk@example.com?" in asked.text
        off = await post_form(
            salon.admin,
            "/admin/users",
            "/admin/users/active",
            email="desk@example.com",
            active="no",
            confirmed="yes",
        )
        assert off.status_code == 303
        assert (await desk.get("/admin/clients")).status_code == 303  # to the login page
        again = await log_in(desk, "desk@example.com", PASSWORD)
        assert again.status_code == 403
        assert "switched off" in again.text
        wrong = await log_in(desk, "desk@example.com", "not the password at all")
        assert "switched off" not in wrong.text  # told only to whoever knows the password
    account: User | None = await core(salon.app).accounts.get("desk@example.com")
    assert account is not None
    assert not account.active
    listed = (await salon.admin.get("/admin/users")).text
    assert "desk@example.com" in listed
    assert "switched off" in listed
    audit = (await salon.admin.get("/admin/audit")).text
    assert "desk@example.com" in audit
    on = await post_form(
        salon.admin, "/admin/users", "/admin/users/active", email="desk@example.com", active="yes"
    )
    assert on.status_code == 303
    async with salon.client() as desk:
        assert (await log_in(desk, "desk@example.com", PASSWORD)).status_code == 303


async def test_an_admin_cannot_switch_off_their_own_account(salon: Salon) -> None:
    answer = await post_form(
        salon.admin,
        "/admin/users",
        "/admin/users/active",
        email="owner@example.com",
        active="no",
        confirmed="yes",
    )
    assert answer.status_code == 400
    assert "cannot switch off your own account" in answer.text


REFUSED = {
    "reception": {
        "/admin/treatments",
        "/admin/treatments/new",
        "/admin/treatments/{treatment_id}",
        "/admin/resources",
        "/admin/resources/new",
        "/admin/resources/{resource_id}",
        "/admin/business",
        "/admin/closures",
        "/admin/users",
        "/admin/ratelimits",
        "/admin/audit",
        "/admin/outbox",
        "/admin/outbox/{namespace}/{message_id}",
        "/admin/outbox/{namespace}/{message_id}/html",
        "/admin/clients/{client_id}/erase",
    },
}
"""Every staff page (GET) a role may not open; the therapist's list is everything but theirs."""
THERAPIST_MAY = {
    "/admin",
    "/admin/calendar",
    "/admin/events",
    "/admin/bookings/{booking_id}",
    "/admin/account",
    "/admin/account/two-factor",
}


async def test_every_staff_page_admits_exactly_the_roles_it_is_for(salon: Salon) -> None:
    params = {
        "booking_id": salon.ann.id,
        "treatment_id": FACIAL.id,
        "resource_id": "r_ann",
        "client_id": client_id(client_key("client0@example.com", "")),
        "namespace": "bookings",
        "message_id": "m_none",
    }
    pages = [
        path
        for path, route in page_routes(salon.app.routes)
        if path.startswith("/admin") and "GET" in (route.methods or ()) and path != "/admin/events"
    ]
    assert len(pages) > 20
    refused = {**REFUSED, "therapist": {p for p in pages if p not in THERAPIST_MAY}}
    for role, email in [("reception", "desk@example.com"), ("therapist", "ann@example.com")]:
        async with salon.client() as browser:
            await log_in(browser, email, PASSWORD)
            for path in pages:
                answer = await browser.get(path.format(**params))
                assert (answer.status_code == 403) == (path in refused[role]), (role, path)


async def test_the_last_active_admin_stays_one(salon: Salon) -> None:
    page = "/admin/users"
    demoted = await post_form(
        salon.admin, page, "/admin/users/role", email="owner@example.com", role="reception"
    )
    assert demoted.status_code == 400
    assert "the only active owner/admin" in demoted.text
    owner = await core(salon.app).accounts.get("owner@example.com")
    assert owner is not None
    assert owner.role == "admin"


async def test_the_old_staff_role_cannot_change_prices_treatments_or_hours(tmp_path: Path) -> None:
    """Defect 20, as an existing deployment has it: an account made with the role "staff"."""
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app) as staff:
        await furnish(parts(app).storage.kv)
        await core(app).accounts.create_user("old@example.com", "staff", PASSWORD)
        await log_in(staff, "old@example.com", PASSWORD)
        token = form_token((await staff.get("/admin/calendar")).text)
        price = await staff.post(
            f"/admin/treatments/{FACIAL.id}",
            data={"csrf_token": token, "name": "Facial", "duration": "60", "price": "1.00"},
        )
        assert price.status_code == 403
        assert (await core(app).catalogue.treatment(FACIAL.id)).price == FACIAL.price
        hours = await staff.post(
            "/admin/resources/r_ann", data={"csrf_token": token, "name": "Ann", "hours_0": ""}
        )
        assert hours.status_code == 403
        assert (await staff.get("/admin/clients")).status_code == 200  # the desk's work stays
