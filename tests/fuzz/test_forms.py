"""Every HTML form of the site, public, manage link and staff (logged in, with CSRF), against a
running app: hypothesis fills the fields with text, dates and instants at the ends of the
calendar, opening hours with offsets; no answer may be a 5xx. And the inputs that once reached
a 500 (issue 10, defect 5), each named."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parlour.config import load_settings
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import FACIAL, MASSAGE, ask, at, client, furnish, upcoming_weekday
from support.web import form_token, log_in, running

PASSWORD = "correct horse battery"
EDGES = [
    "9999-12-31",
    "0001-01-01",
    "1899-12-31",
    "3000-01-01",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59Z",
    "2026-13-01T10:00:00Z",
    "2026-12-02T10:00:00",
    "09:00+05:00-17:00",
    "09:00Z-17:00",
    "25:00-26:00",
    "-1",
    "1e309",
    "99999999999999999999",
    "",
    "\x00",
    "week",
    "month",
]


@dataclass
class Site:
    runner: asyncio.Runner
    http: httpx.AsyncClient
    token: str
    """A manage link's token."""
    booking_id: str

    def fetch(self, method: str, path: str, fields: dict[str, str]) -> httpx.Response:
        async def send() -> httpx.Response:
            if method == "GET":
                return await self.http.get(path, params=fields)
            page = await self.http.get("/admin")
            data = {**fields, "csrf_token": form_token(page.text)}
            return await self.http.post(path, data=data)

        return self.runner.run(send())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder: Path = tmp_path_factory.mktemp("forms")
    app = create_app(
        load_settings(env_file=None, data_dir=folder, booking_rate_limit="100000/1 minute")
    )
    runner = asyncio.Runner()
    stack = AsyncExitStack()

    async def start() -> Site:
        http = await stack.enter_async_context(running(app))
        await furnish(parts(app).storage.kv)
        await core(app).accounts.create_user("admin@example.com", "admin", PASSWORD)
        await log_in(http, "admin@example.com", PASSWORD)
        booked = await core(app).bookings.book(
            ask({"treatment": MASSAGE.id, "start": at(10, day=upcoming_weekday()), **client()})
        )
        return Site(runner, http, booked.token, booked.booking.id)

    try:
        yield runner.run(start())
    finally:
        runner.run(stack.aclose())
        runner.close()


def forms(site: Site) -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, path, fields) of every form and the pages their fields reach."""
    token, booking = site.token, site.booking_id
    return [
        ("GET", f"/book/{FACIAL.id}", ("date",)),
        ("GET", f"/book/{FACIAL.id}/details", ("start", "resource")),
        (
            "POST",
            f"/book/{FACIAL.id}/details",
            ("start", "name", "email", "phone", "resource", "idempotency_key"),
        ),
        ("GET", f"/booking/{token}/reschedule", ("date",)),
        ("POST", f"/booking/{token}/reschedule", ("start",)),
        ("POST", f"/booking/{token}/review", ("stars", "text")),
        ("GET", "/admin/calendar", ("date", "view", "resource", "status")),
        ("GET", "/admin/bookings/new", ("treatment", "date", "start", "resource")),
        (
            "POST",
            "/admin/bookings/new",
            ("treatment", "start", "name", "email", "phone", "resource", "idempotency_key"),
        ),
        ("GET", f"/admin/bookings/{booking}", ("date",)),
        ("POST", f"/admin/bookings/{booking}/reschedule", ("start",)),
        ("POST", f"/admin/bookings/{booking}/status", ("status", "confirmed", "next")),
        (
            "POST",
            "/admin/resources/new",
            ("name", "kind", "active", "closed", "exceptions", "hours_0", "hours_6"),
        ),
        (
            "POST",
            "/admin/treatments/new",
            ("name", "duration", "buffer_before", "buffer_after", "price", "resource_ids"),
        ),
        ("POST", "/contact", ("name", "email", "message")),
    ]


values = st.one_of(
    st.sampled_from(EDGES),
    st.text(max_size=30),
    st.dates().map(str),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_form_answers_5xx(site: Site, data: st.DataObject) -> None:
    method, path, names = data.draw(st.sampled_from(forms(site)))
    fields = data.draw(st.fixed_dictionaries({}, optional=dict.fromkeys(names, values)))
    response = site.fetch(method, path, fields)
    assert response.status_code < 500, (method, path, fields, response.text[-500:])


@pytest.mark.parametrize("edge", EDGES[:7])
def test_dates_and_instants_at_the_ends_of_the_calendar_are_refused_not_500(
    site: Site, edge: str
) -> None:
    cases = [
        ("GET", f"/book/{MASSAGE.id}", {"date": edge}),
        ("GET", f"/book/{MASSAGE.id}/details", {"start": edge}),
        ("POST", f"/book/{MASSAGE.id}/details", {"start": edge, **client(3)}),
        ("POST", f"/booking/{site.token}/reschedule", {"start": edge}),
        ("GET", f"/booking/{site.token}/reschedule", {"date": edge}),
        ("POST", "/admin/bookings/new", {"treatment": MASSAGE.id, "start": edge, **client()}),
        ("GET", "/admin/bookings/new", {"treatment": MASSAGE.id, "date": edge}),
        ("POST", f"/admin/bookings/{site.booking_id}/reschedule", {"start": edge}),
        ("GET", "/admin/calendar", {"date": edge}),
        ("GET", "/admin/calendar", {"date": edge, "view": "week"}),
    ]
    for method, path, fields in cases:
        response = site.fetch(method, path, fields)
        assert response.status_code < 500, (method, path, response.text[-300:])
    api = [
        ("/api/bookings", {"treatment": MASSAGE.id, "start": edge, **client(4)}),
        (f"/api/bookings/{site.token}/reschedule", {"start": edge}),
    ]
    for path, body in api:
        response = site.runner.run(site.http.post(path, json=body, headers={"cookie": ""}))
        assert response.status_code < 500, (path, response.text[-300:])


@pytest.mark.parametrize("hours", ["09:00+05:00-17:00", "09:00Z-17:00"])
def test_opening_hours_with_an_offset_are_refused_with_a_message(site: Site, hours: str) -> None:
    response = site.fetch(
        "POST", "/admin/resources/new", {"name": "Cara", "kind": "therapist", "hours_0": hours}
    )
    assert response.status_code == 422
    assert "without an offset" in response.text
