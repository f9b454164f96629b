"""Issue 24, defect 19: a client search without accents finds a name with them; the API's
document states the name's length the API keeps; a body that is not JSON is said to be so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from parlour.config import load_settings
from parlour.services.clients.search import matches, parse
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import MASSAGE, ask, at, client, furnish, upcoming_weekday
from support.web import log_in, running

PASSWORD = "correct horse battery"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app) as http:
        await furnish(parts(app).storage.kv)
        await core(app).accounts.create_user("desk@example.com", "reception", PASSWORD)
        day = upcoming_weekday()
        for n, name in enumerate(["Nguyễn Thị Lan", "Zoë Østergård", "Plain Name"]):
            wanted = {"treatment": MASSAGE.id, "start": at(10 + n, day=day)}
            await core(app).bookings.book(ask({**wanted, **client(n, name=name)}))
        await log_in(http, "desk@example.com", PASSWORD)
        yield http


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("nguyen", "Nguyễn Thị Lan"),
        ("NGUYEN thi", "Nguyễn Thị Lan"),
        ("Nguyễn", "Nguyễn Thị Lan"),
        ("zoe oster", "Zoë Østergård"),
    ],
    ids=["plain", "two-words", "as-written", "slashed-o"],
)
async def test_a_search_without_accents_finds_the_name_with_them(
    site: httpx.AsyncClient, typed: str, found: str
) -> None:
    page = await site.get("/admin/clients", params={"q": typed})
    assert page.status_code == 200
    assert found in page.text
    assert "Plain Name" not in page.text


def test_folding_is_the_rule_of_the_index_and_of_one_client() -> None:
    from parlour.services.clients.search import fold  # new in issue 24

    assert fold("Nguyễn Đức Øre") == "nguyen duc ore"
    assert matches(parse("nguyen"), "Nguyễn", "", "")
    assert matches(parse("nguyễn"), "Nguyen", "", "")
    assert not matches(parse("nguyet"), "Nguyễn", "", "")


async def test_the_api_document_states_the_name_length_the_api_keeps(
    site: httpx.AsyncClient,
) -> None:
    site.cookies.clear()  # an API client, not the logged-in browser (no CSRF token then)
    spec = (await site.get("/api/openapi.json")).json()
    longest = spec["components"]["schemas"]["BookingIn"]["properties"]["name"]["maxLength"]
    start = at(15, day=upcoming_weekday())
    wanted = {"treatment": MASSAGE.id, "start": start, **client(9)}
    fits = await site.post("/api/bookings", json={**wanted, "name": "é" * longest})
    assert fits.status_code == 201, fits.text
    again = {**wanted, "start": at(16, day=upcoming_weekday()), "name": "é" * (longest + 1)}
    too_long = await site.post("/api/bookings", json=again)
    assert too_long.status_code == 422
    assert set(too_long.json()["fields"]) == {"name"}


@pytest.mark.parametrize("body", ['{"name": ', "nope", '{"a": 1,}'], ids=["cut", "word", "comma"])
async def test_a_body_that_is_not_json_is_said_to_be_so(site: httpx.AsyncClient, body: str) -> None:
    site.cookies.clear()
    answer = await site.post(
        "/api/bookings", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    problem = answer.json()
    assert "fields" not in problem
    assert "not valid JSON" in problem["message"]
