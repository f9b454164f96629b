"""Issue 24: pages that tell the truth in words: the audit log (defect 17's raw JSON and escapes),
the outbox on the salon's clock (defect 13), the week view of "everyone" (defect 20)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.services.catalogue import Business
from parlour.services.notices.messages import ProbeMessage, to_json
from parlour.services.outbox.records import new_message
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import FACIAL, furnish, upcoming_weekday
from support.web import form_token, log_in, running

PASSWORD = "correct horse battery"
ZONE = "Pacific/Auckland"  # never UTC's clock: 12 or 13 hours ahead


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app) as client:
        await furnish(parts(app).storage.kv)
        catalogue = core(app).catalogue
        business = await catalogue.business()
        rules = dataclasses.replace(business.rules, timezone=ZONE)
        await catalogue.put_business(dataclasses.replace(business, name="Étoile", rules=rules))
        await core(app).accounts.create_user("owner@example.com", "admin", PASSWORD)
        await log_in(client, "owner@example.com", PASSWORD)
        yield app, client


async def test_the_audit_log_says_who_did_what_in_words_with_accents_as_written(
    admin: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = admin
    path = f"/admin/treatments/{FACIAL.id}"
    html = (await client.get(path)).text
    fields = {"name": "Épilation à la cire", "duration": "60", "price": "70.00", "active": "on"}
    saved = await client.post(
        path, data={"csrf_token": form_token(html), "resource_ids": ["r_ann"], **fields}
    )
    assert saved.status_code == 303
    page = (await client.get("/admin/audit")).text
    assert "Épilation à la cire" in page  # as written, not \u00c9
    assert "\\u00" not in page
    assert "&#34;" not in page
    assert '{"' not in page
    assert "owner@example.com</strong> saved a treatment: " in page
    assert '<span class="target">Épilation à la cire</span>' in page  # its name, not its id
    assert "£65.00" in page
    assert "£70.00" in page
    entry = [e async for e in core(app).audit.entries()][-1]
    shown = datetime.fromtimestamp(entry.at, ZoneInfo(ZONE)).strftime("%H:%M")
    assert shown in page  # on the salon's clock
    assert "<title>Audit log · Étoile</title>" in page


def _probe(now: float) -> object:
    data = to_json(ProbeMessage(Business(name="Étoile"), "a test"))
    return new_message("test", ["client@example.com"], data, now=now)


async def test_the_outbox_is_on_the_salons_clock_names_the_salon_and_its_window(
    admin: tuple[Starlette, httpx.AsyncClient],
) -> None:
    """Defect 13: times in UTC, a title saying "Parlour", the 7-day window unsaid."""
    app, client = admin
    outbox = core(app).outboxes.of("bookings")
    message = await outbox.enqueue(_probe(parts(app).delivery.clock()))  # type: ignore[arg-type]
    page = (await client.get("/admin/outbox")).text
    assert "<title>Outbox · Étoile</title>" in page
    due = datetime.fromtimestamp(message.due, ZoneInfo(ZONE))
    assert due.strftime("%H:%M NZ") in page  # NZDT or NZST
    assert "UTC" not in page
    assert "next 7 days" in page
    assert "last 24 hours" in page
    one = (await client.get(f"/admin/outbox/bookings/{message.id}")).text
    assert due.strftime("%H:%M NZ") in one
    assert "UTC" not in one
    assert "Étoile</title>" in one


async def test_the_week_of_everyone_says_it_is_one_therapists_week(
    admin: tuple[Starlette, httpx.AsyncClient],
) -> None:
    """Defect 20: the week view of "everyone" silently became the first therapist's week."""
    _, client = admin
    day = upcoming_weekday().isoformat()
    page = (await client.get(f"/admin/calendar?view=week&date={day}&resource=")).text
    assert "A week shows one therapist or room at a time" in page
    assert "this is Ann's week" in page
    chosen = (await client.get(f"/admin/calendar?view=week&date={day}&resource=r_bob")).text
    assert "A week shows one therapist" not in chosen


async def test_the_new_staff_form_promises_only_what_happens(
    admin: tuple[Starlette, httpx.AsyncClient],
) -> None:
    """Defect 14: it said a new colleague changes the first password after logging in; nothing
    asks them to. It says where they can, and that page offers it."""
    _, client = admin
    users = (await client.get("/admin/users")).text
    assert "they change it after logging in" not in users
    assert "they can change it under Account once logged in" in users
    account = (await client.get("/admin/account")).text
    assert 'action="/admin/account/password"' in account
