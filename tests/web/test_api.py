"""The JSON API: every answer checked against the app's own OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.domain.booking import Booking
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import FACIAL, MASSAGE, RETIRED, at, client, furnish, upcoming_weekday
from support.waiting import eventually
from support.web import form_token, log_in, running


class Api:
    def __init__(self, app: Starlette, client: httpx.AsyncClient, spec: dict[str, Any]) -> None:
        self.app = app
        self.client = client
        self.spec = spec
        self.day = upcoming_weekday()

    async def call(
        self, method: str, path: str, *, operation: tuple[str, str], **kwargs: Any
    ) -> httpx.Response:
        """Call the API and check the answer against the documented schema of its status."""
        response = await self.client.request(method, f"/api{path}", **kwargs)
        template, verb = operation
        documented = self.spec["paths"][template][verb]["responses"]
        assert str(response.status_code) in documented, (
            f"{method} {path} answered {response.status_code}, not documented: {response.text}"
        )
        schema = documented[str(response.status_code)]["content"]["application/json"]["schema"]
        # The document's "#/components/..." references resolve against this root.
        Draft202012Validator({**schema, "components": self.spec["components"]}).validate(
            response.json()
        )
        return response


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = load_settings(env_file=None, data_dir=tmp_path, booking_rate_limit="50/15 minutes")
    app = create_app(settings)
    async with running(app) as http:
        await furnish(parts(app).storage.kv)
        spec = (await http.get("/api/openapi.json")).json()
        yield Api(app, http, spec)


def body(api: Api, hour: int, n: int = 0, treatment: str = MASSAGE.id) -> dict[str, str]:
    return {"treatment": treatment, "start": at(hour, day=api.day), **client(n)}


async def test_the_document_describes_every_endpoint(api: Api) -> None:
    assert set(api.spec["paths"]) == {
        "/treatments",
        "/availability",
        "/bookings",
        "/bookings/{token}",
        "/bookings/{token}/cancel",
        "/bookings/{token}/reschedule",
    }
    assert api.spec["servers"] == [{"url": "/api"}]


async def test_treatments_and_availability(api: Api) -> None:
    treatments = await api.call("GET", "/treatments", operation=("/treatments", "get"))
    assert {t["id"] for t in treatments.json()} == {FACIAL.id, MASSAGE.id}  # not the retired one
    found = await api.call(
        "GET",
        "/availability",
        params={"treatment": MASSAGE.id, "date": api.day.isoformat()},
        operation=("/availability", "get"),
    )
    slots = found.json()["slots"]
    assert found.json()["timezone"] == "Europe/London"
    assert slots[0]["start"].replace("Z", "+00:00") == at(9, day=api.day)
    assert slots[0]["local_time"] == "09:00"
    for params, status in [
        ({"treatment": "t_nope", "date": api.day.isoformat()}, 404),
        ({"treatment": MASSAGE.id, "date": "2026-02-30"}, 422),
        ({"treatment": MASSAGE.id}, 422),
    ]:
        response = await api.call(
            "GET", "/availability", params=params, operation=("/availability", "get")
        )
        assert response.status_code == status


async def test_booking_then_the_loser_gets_409_with_alternatives(api: Api) -> None:
    made = await api.call("POST", "/bookings", json=body(api, 10), operation=("/bookings", "post"))
    assert made.status_code == 201
    token = made.json()["manage_token"]
    assert made.json()["manage_url"].endswith(f"/booking/{token}")
    lost = await api.call(
        "POST", "/bookings", json=body(api, 10, 1), operation=("/bookings", "post")
    )
    assert lost.status_code == 409
    assert lost.json()["error"] == "slot_taken"
    assert lost.json()["message"] == "This time was just taken. Here are other times that day."
    assert len(lost.json()["alternatives"]) == 6
    shown = await api.call("GET", f"/bookings/{token}", operation=("/bookings/{token}", "get"))
    assert shown.json()["status"] == "confirmed"


async def test_idempotency_key_makes_a_retry_safe(api: Api) -> None:
    headers = {"idempotency-key": "retry-7"}
    first = await api.call(
        "POST", "/bookings", json=body(api, 11), headers=headers, operation=("/bookings", "post")
    )
    again = await api.call(
        "POST", "/bookings", json=body(api, 11), headers=headers, operation=("/bookings", "post")
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()


@pytest.mark.parametrize(
    ("changes", "status", "fields"),
    [
        ({"email": "no"}, 422, {"email"}),
        ({"start": "2026-12-01T10:00:00"}, 422, {"start"}),
        ({"start": "tomorrow"}, 422, {"start"}),
        ({"name": "x" * 500}, 422, {"name"}),
        ({"treatment": RETIRED.id}, 404, None),
        ({"treatment": "t_nope"}, 404, None),
    ],
    ids=["email", "naive-start", "words", "huge-name", "retired", "unknown"],
)
async def test_bad_bookings_are_4xx_with_a_message(
    api: Api, changes: dict[str, str], status: int, fields: set[str] | None
) -> None:
    response = await api.call(
        "POST", "/bookings", json={**body(api, 12), **changes}, operation=("/bookings", "post")
    )
    assert response.status_code == status
    assert response.json()["message"]
    if fields is not None:
        assert set(response.json()["fields"]) >= fields


async def test_wrong_content_types_and_bodies_are_422_not_500(api: Api) -> None:
    # A body that is not JSON at all is the 400 the document lists (issue 24, defect 19).
    broken = {"content": b"{not json", "headers": {"content-type": "application/json"}}
    response = await api.call("POST", "/bookings", operation=("/bookings", "post"), **broken)
    assert response.status_code == 400
    for kwargs in (
        {"content": b"a=b", "headers": {"content-type": "text/plain"}},
        {"json": [1, 2, 3]},
        {"json": {"treatment": {"nested": True}}},
    ):
        response = await api.call("POST", "/bookings", operation=("/bookings", "post"), **kwargs)
        assert response.status_code == 422


async def test_cancel_and_reschedule_through_the_token(api: Api) -> None:
    token = (
        await api.call("POST", "/bookings", json=body(api, 13), operation=("/bookings", "post"))
    ).json()["manage_token"]
    moved = await api.call(
        "POST",
        f"/bookings/{token}/reschedule",
        json={"start": at(15, day=api.day)},
        operation=("/bookings/{token}/reschedule", "post"),
    )
    assert moved.json()["start"].replace("Z", "+00:00") == at(15, day=api.day)
    busy = (
        await api.call("POST", "/bookings", json=body(api, 9, 2), operation=("/bookings", "post"))
    ).json()
    assert busy["booking"]["status"] == "confirmed"
    taken = await api.call(
        "POST",
        f"/bookings/{token}/reschedule",
        json={"start": at(9, day=api.day)},
        operation=("/bookings/{token}/reschedule", "post"),
    )
    assert taken.status_code == 409
    cancelled = await api.call(
        "POST", f"/bookings/{token}/cancel", operation=("/bookings/{token}/cancel", "post")
    )
    assert cancelled.json()["status"] == "cancelled"
    again = await api.call(
        "POST",
        f"/bookings/{token}/reschedule",
        json={"start": at(16, day=api.day)},
        operation=("/bookings/{token}/reschedule", "post"),
    )
    assert again.status_code == 409
    missing = await api.call("GET", "/bookings/" + "A" * 32, operation=("/bookings/{token}", "get"))
    assert missing.status_code == 404


async def test_a_request_with_a_session_cookie_needs_the_csrf_header(api: Api) -> None:
    await core(api.app).accounts.create_user("staff@example.com", "staff", "correct horse battery")
    await log_in(api.client, "staff@example.com", "correct horse battery")
    refused = await api.client.post("/api/bookings", json=body(api, 14))
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf"
    token = form_token((await api.client.get("/admin/account")).text)
    accepted = await api.client.post(
        "/api/bookings", json=body(api, 14), headers={"x-csrf-token": token}
    )
    assert accepted.status_code == 201


async def test_the_limit_is_three_per_email_by_default(tmp_path: Path) -> None:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app) as http:
        await furnish(parts(app).storage.kv)
        day = upcoming_weekday()
        statuses = []
        for hour in (9, 10, 11, 12):
            response = await http.post(
                "/api/bookings",
                json={"treatment": MASSAGE.id, "start": at(hour, day=day), **client()},
            )
            statuses.append(response.status_code)
        assert statuses == [201, 201, 201, 429]
        assert response.json()["error"] == "rate_limited"
        assert response.headers["retry-after"] == "900"


async def test_availability_answers_follow_every_change_and_are_kept_while_none_comes(
    api: Api,
) -> None:
    """The encoded answer is kept per process: it must follow a booking, a cancellation, an
    edited treatment and a change of time zone, and be reused, not rebuilt, in between."""
    params = {"treatment": MASSAGE.id, "date": api.day.isoformat()}

    async def starts() -> list[tuple[str, str, tuple[str, ...]]]:
        found = await api.call(
            "GET", "/availability", params=params, operation=("/availability", "get")
        )
        return [(s["start"], s["local_time"], tuple(s["resources"])) for s in found.json()["slots"]]

    first = await starts()
    memo = core(api.app).day_cache._memo

    def answers() -> list[object]:
        return [entry for key, entry in memo.items() if isinstance(key, tuple) and key[0] == "api"]

    async def reused() -> bool:
        (before,) = answers()
        assert await starts() == first
        (after,) = answers()
        return after is before  # not encoded again

    # Once the catalogue's own copies settle (a load that an event overtook is not kept).
    await eventually(reused, what="the encoded answer reused")
    ten = at(10, day=api.day).replace("+00:00", "Z")

    made = await api.call("POST", "/bookings", json=body(api, 10), operation=("/bookings", "post"))
    booked = await starts()
    (before,) = [s for s in first if s[0] == ten]
    (after,) = [s for s in booked if s[0] == ten] or [(ten, "", ())]
    assert len(after[2]) == len(before[2]) - 1  # one therapist fewer at 10:00

    token = made.json()["manage_token"]
    cancel = f"/bookings/{token}/cancel"
    assert (
        await api.call("POST", cancel, operation=("/bookings/{token}/cancel", "post"))
    ).status_code == 200
    assert await starts() == first

    catalogue = core(api.app).catalogue
    await catalogue.put_treatment(replace(MASSAGE, duration=MASSAGE.duration * 4))
    longer = await starts()
    assert len(longer) < len(first)  # fewer starts fit before closing

    business = await catalogue.business()
    await catalogue.put_business(
        replace(business, rules=replace(business.rules, timezone="Asia/Tokyo"))
    )
    # Opening hours are local: the same 09:00 is another instant in Tokyo.
    assert [s[0] for s in await starts()] != [s[0] for s in longer]


async def bookings_that_day(api: Api) -> list[Booking]:
    ids = [r.id for r in await core(api.app).catalogue.resources()]
    return await core(api.app).bookings.day(api.day, ids)


# Issue 21.2: each counted as its own mailbox while the SMTP client mailed victim@example.com.
HOSTILE_SPELLINGS = [
    "victim@example.com(1)",
    "(x)victim@example.com",
    "victim@example.com>",
    "a,victim@example.com",
]


@pytest.mark.parametrize("email", HOSTILE_SPELLINGS)
async def test_a_spelling_that_mails_another_address_is_refused_naming_the_field(
    api: Api, email: str
) -> None:
    answer = await api.call(
        "POST",
        "/bookings",
        operation=("/bookings", "post"),
        json={**body(api, 10), "email": email},
    )
    assert answer.status_code == 422
    assert "name@example.com" in answer.json()["fields"]["email"]
    assert await bookings_that_day(api) == []


async def test_an_address_is_kept_and_shown_as_typed(api: Api) -> None:
    # It was stored case-folded (straße@ became strasse@, another mailbox: see
    # tests/mail/test_addresses.py for that one, which needs an SMTPUTF8 relay).
    typed = "Zoe.Smith@Example.COM"
    made = await api.call(
        "POST",
        "/bookings",
        operation=("/bookings", "post"),
        json={**body(api, 10), "email": typed},
    )
    assert made.json()["booking"]["email"] == typed
    [booking] = await bookings_that_day(api)
    assert booking.email == typed


async def test_the_document_states_the_rules_the_api_keeps(api: Api) -> None:
    """Issue 21.7: it said names could be 200 characters (the API refuses 101) and nothing of
    the e-mail or phone rules."""
    fields = api.spec["components"]["schemas"]["BookingIn"]["properties"]
    assert fields["name"]["maxLength"] == 100
    assert {"pattern", "maxLength"} <= fields["email"].keys()
    assert {"pattern", "maxLength"} <= fields["phone"].keys()
    assert fields["phone"]["maxLength"] == 30
