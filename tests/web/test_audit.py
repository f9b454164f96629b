"""The audit log (issue 11.6): every staff change is recorded, nothing can rewrite it.

The walk below enumerates the app's own routes: every POST under /admin must have a row in
ACTIONS that makes a real change through it and names the audit action it must append. A route
added later without a row (and an audit call) fails the walk.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest
from PIL import Image
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.domain.booking import Status
from parlour.services.audit import Actor, AuditFilter, AuditService
from parlour.services.bookings.client_keys import client_id, client_key
from parlour.services.catalogue import Business
from parlour.services.notices.messages import ProbeMessage, to_json
from parlour.services.outbox.records import State as OutboxState
from parlour.services.outbox.records import new_message
from parlour.storage import KVStore
from parlour.storage.memory import MemoryBackend
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import FACIAL, ask, at, client, furnish, past_visit, upcoming_weekday
from support.web import form_token, log_in, page_routes, post_form, running

ADMIN, STAFF, PASSWORD = "admin@example.com", "staff@example.com", "correct horse battery"


@dataclass
class Walk:
    app: Starlette
    admin: httpx.AsyncClient
    booking_id: str
    tmp_path: Path

    async def entries(self) -> list[dict[str, object]]:
        return [e.to_json() async for e in core(self.app).audit.entries()]


@pytest.fixture
async def walk(tmp_path: Path) -> AsyncIterator[Walk]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path / "data"))
    async with running(app) as admin:
        catalogue = await furnish(parts(app).storage.kv)
        await core(app).accounts.create_user(ADMIN, "admin", PASSWORD)
        await core(app).accounts.create_user(STAFF, "staff", PASSWORD)
        await log_in(admin, ADMIN, PASSWORD)
        # Last week's visit, still confirmed: staff may mark it done, and its client review it.
        visit, _ = await past_visit(parts(app).storage.kv, catalogue, done=False)
        yield Walk(app, admin, visit.id, tmp_path)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (120, 80, 100)).save(out, "JPEG")
    return out.getvalue()


async def _new_booking(w: Walk) -> httpx.Response:
    page = await w.admin.get(f"/admin/bookings/new?treatment={FACIAL.id}")
    return await w.admin.post(
        "/admin/bookings/new",
        data={
            "csrf_token": form_token(page.text),
            "treatment": FACIAL.id,
            "start": at(12, day=upcoming_weekday()),
            "idempotency_key": "audit-walk",
            **client(7),
        },
    )


async def _status(w: Walk) -> httpx.Response:
    page = f"/admin/bookings/{w.booking_id}"
    return await post_form(w.admin, page, f"{page}/status", status="completed", confirmed="yes")


async def _reschedule(w: Walk) -> httpx.Response:
    other = await core(w.app).bookings.book(
        ask({"treatment": FACIAL.id, "start": at(9, 30, day=upcoming_weekday()), **client(2)})
    )
    page = f"/admin/bookings/{other.booking.id}"
    return await post_form(
        w.admin, page, f"{page}/reschedule", start=at(14, day=upcoming_weekday()), confirmed="yes"
    )


async def _edit_booking(w: Walk) -> httpx.Response:
    page = f"/admin/bookings/{w.booking_id}"
    return await post_form(
        w.admin, page, f"{page}/edit", name="Renamed", email="", phone="07700 900999"
    )


def _treatment(path: str) -> Callable[[Walk], Awaitable[httpx.Response]]:
    async def save(w: Walk) -> httpx.Response:
        html = (await w.admin.get(path)).text
        fields = {"name": "Head massage", "duration": "25", "price": "30.50", "active": "on"}
        return await w.admin.post(
            path, data={"csrf_token": form_token(html), "resource_ids": ["r_ann"], **fields}
        )

    return save


def _resource(path: str) -> Callable[[Walk], Awaitable[httpx.Response]]:
    async def save(w: Walk) -> httpx.Response:
        return await post_form(w.admin, path, path, name="Cleo", hours_0="09:00-17:00")

    return save


async def _business(w: Walk) -> httpx.Response:
    fields = {
        "name": "Renamed Salon",
        "currency": "GBP",
        "timezone": "Europe/London",
        "slot_step": "15",
        "min_notice": "60",
        "horizon_days": "60",
        "cancel_cutoff_hours": "24",
    }
    return await post_form(w.admin, "/admin/business", "/admin/business", **fields)


async def _moderate(w: Walk) -> httpx.Response:
    bookings = core(w.app).bookings
    changed = await bookings.set_status(await bookings.get(w.booking_id), Status.COMPLETED)
    done = changed.booking
    await core(w.app).reviews.submit(done, "5", "Lovely")
    return await post_form(
        w.admin, "/admin/reviews", f"/admin/reviews/{w.booking_id}", status="approved"
    )


async def _upload(w: Walk) -> httpx.Response:
    page = await w.admin.get("/admin/gallery")
    return await w.admin.post(
        "/admin/gallery",
        data={"csrf_token": form_token(page.text), "caption": "The room"},
        files={"photo": ("room.jpg", jpeg(), "image/jpeg")},
    )


async def _photo(w: Walk) -> httpx.Response:
    photo = await core(w.app).gallery.upload(jpeg(), "Old caption")
    page = await w.admin.get("/admin/gallery")
    return await w.admin.post(
        f"/admin/gallery/{photo.id}",
        data={"csrf_token": form_token(page.text), "action": "caption", "caption": "New"},
    )


async def _two_factor_start(w: Walk) -> httpx.Response:
    page = "/admin/account/two-factor"
    return await post_form(w.admin, page, f"{page}/start")


async def _two_factor_confirm(w: Walk) -> httpx.Response:
    html = (await w.admin.get("/admin/account/two-factor")).text
    key = html.split('<code class="totp-key">')[1].split("<")[0]
    return await w.admin.post(
        "/admin/account/two-factor/confirm",
        data={"csrf_token": form_token(html), "code": pyotp.TOTP(key).now()},
    )


async def _two_factor_disable(w: Walk) -> httpx.Response:
    user = await core(w.app).accounts.get(ADMIN)
    assert user is not None
    code = pyotp.TOTP(user.totp_secret).at(time.time() + 30)  # the next step: not a replay
    page = "/admin/account/two-factor"
    return await post_form(w.admin, page, f"{page}/disable", password=PASSWORD, code=code)


async def _password(w: Walk) -> httpx.Response:
    new = "another long password"
    return await post_form(
        w.admin,
        "/admin/account",
        "/admin/account/password",
        current_password=PASSWORD,
        new_password=new,
        confirm_password=new,
    )


async def _staff_browser(w: Walk) -> httpx.AsyncClient:
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=w.app), base_url="http://testserver"
    )
    await log_in(browser, STAFF, PASSWORD)
    return browser


async def _end_one(w: Walk) -> httpx.Response:
    html = (await w.admin.get("/admin/account")).text
    key = html.split('name="session_key" value="')[1].split('"')[0]
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=w.app), base_url="http://testserver"
    )
    assert (await log_in(other, ADMIN, "another long password")).status_code == 303
    html = (await w.admin.get("/admin/account")).text
    keys = [part.split('"')[0] for part in html.split('name="session_key" value="')[1:]]
    key = next(k for k in keys if k != key) if len(keys) > 1 else key
    return await post_form(
        w.admin, "/admin/account", "/admin/account/sessions/end", session_key=key, confirmed="yes"
    )


async def _end_others(w: Walk) -> httpx.Response:
    return await post_form(
        w.admin, "/admin/account", "/admin/account/sessions/end-others", confirmed="yes"
    )


async def _create_user(w: Walk) -> httpx.Response:
    return await post_form(
        w.admin,
        "/admin/users",
        "/admin/users",
        email="new@example.com",
        role="staff",
        password="a first password",
    )


async def _role(w: Walk) -> httpx.Response:
    return await post_form(w.admin, "/admin/users", "/admin/users/role", email=STAFF, role="admin")


async def _switch_off(w: Walk) -> httpx.Response:
    return await post_form(
        w.admin, "/admin/users", "/admin/users/active", email=STAFF, active="no", confirmed="yes"
    )


async def _end_user(w: Walk) -> httpx.Response:
    await _staff_browser(w)
    return await post_form(
        w.admin, "/admin/users", "/admin/users/end-sessions", email=STAFF, confirmed="yes"
    )


async def _clear(w: Walk) -> httpx.Response:
    return await post_form(
        w.admin,
        "/admin/ratelimits?ip=192.0.2.1",
        "/admin/ratelimits/clear",
        ip="192.0.2.1",
        confirmed="yes",
    )


async def _outbox_retry(w: Walk) -> httpx.Response:
    outbox = core(w.app).outboxes.of("bookings")
    now = parts(w.app).delivery.clock()
    data = to_json(ProbeMessage(Business(name="Walk"), "the audit walk"))
    message = await outbox.enqueue(new_message("test", ["c@example.com"], data, now=now))
    # The walk's bookings have their confirmations in the same outbox: take this one.
    (entry,) = [d for d in (await outbox.scan(now)).due if d.message_id == message.id]
    leased = await outbox.lease(entry, "walk", now, 60)
    assert leased is not None
    await outbox.set_aside(leased, OutboxState.DEAD, "550 no such mailbox")
    fields = {"namespace": "bookings", "message_id": message.id}
    return await post_form(w.admin, "/admin/outbox", "/admin/outbox/retry", **fields)


def _client_page(w: Walk) -> str:
    return f"/admin/clients/{client_id(client_key('client7@example.com', ''))}"


async def _note(w: Walk) -> httpx.Response:
    page = _client_page(w)
    return await post_form(w.admin, page, f"{page}/notes", note="Prefers mornings.")


async def _note_remove(w: Walk) -> httpx.Response:
    page = _client_page(w)
    client = await core(w.app).clients.get(page.rsplit("/", 1)[1])
    note = await core(w.app).clients.add_note(client, "A note to remove.", ADMIN)
    fields = {"note_id": note.id, "confirmed": "yes"}
    return await post_form(w.admin, page, f"{page}/notes/remove", **fields)


async def _edit(w: Walk) -> httpx.Response:
    page = _client_page(w)
    fields = {"name": "Client Seven", "email": "client7@example.com", "phone": "07700 900123"}
    return await post_form(w.admin, page, f"{page}/details", **fields)


async def _merge(w: Walk) -> httpx.Response:
    booked = await core(w.app).bookings.book(
        ask(
            {"treatment": FACIAL.id, "start": at(11, day=upcoming_weekday(10)), **client(6)},
            staff=True,
        )
    )
    page = _client_page(w)
    other = client_id(client_key(booked.booking.email, ""))
    return await post_form(w.admin, page, f"{page}/merge", other=other, confirmed="yes")


async def _export(w: Walk) -> httpx.Response:
    page = _client_page(w)
    return await post_form(w.admin, page, f"{page}/export")


async def _erase(w: Walk) -> httpx.Response:
    booked = await core(w.app).bookings.book(
        ask({"treatment": FACIAL.id, "start": at(16, day=upcoming_weekday()), **client(9)})
    )
    await core(w.app).bookings.cancel(booked.booking, by_client=False)
    page = f"/admin/clients/{client_id(client_key('client9@example.com', ''))}"
    return await post_form(w.admin, f"{page}/erase", f"{page}/erase", confirmed="yes")


async def _new_link(w: Walk) -> httpx.Response:
    page = f"/admin/bookings/{w.booking_id}"
    return await post_form(w.admin, page, f"{page}/link", confirmed="yes")


async def _end_all(w: Walk) -> httpx.Response:
    return await post_form(
        w.admin, "/admin/account", "/admin/account/sessions/end-all", confirmed="yes"
    )


ACTIONS: list[tuple[str, str, Callable[[Walk], Awaitable[httpx.Response]]]] = [
    ("/admin/bookings/new", "booking.create", _new_booking),
    ("/admin/bookings/{booking_id}/status", "booking.status", _status),
    ("/admin/bookings/{booking_id}/reschedule", "booking.move", _reschedule),
    ("/admin/bookings/{booking_id}/edit", "booking.edit", _edit_booking),
    ("/admin/treatments/new", "treatment.save", _treatment("/admin/treatments/new")),
    (
        "/admin/treatments/{treatment_id}",
        "treatment.save",
        _treatment(f"/admin/treatments/{FACIAL.id}"),
    ),
    ("/admin/resources/new", "resource.save", _resource("/admin/resources/new")),
    ("/admin/resources/{resource_id}", "resource.save", _resource("/admin/resources/r_bob")),
    ("/admin/business", "business.save", _business),
    ("/admin/reviews/{booking_id}", "review.moderate", _moderate),
    ("/admin/gallery", "photo.add", _upload),
    ("/admin/gallery/{photo_id}", "photo.caption", _photo),
    ("/admin/account/two-factor/start", "2fa.start", _two_factor_start),
    ("/admin/account/two-factor/confirm", "2fa.enable", _two_factor_confirm),
    ("/admin/account/two-factor/disable", "2fa.disable", _two_factor_disable),
    ("/admin/account/password", "account.password", _password),
    ("/admin/account/sessions/end", "session.end", _end_one),
    ("/admin/account/sessions/end-others", "session.end_others", _end_others),
    ("/admin/users", "user.create", _create_user),
    ("/admin/users/role", "user.role", _role),
    ("/admin/users/end-sessions", "user.end_sessions", _end_user),
    ("/admin/users/active", "user.active", _switch_off),
    ("/admin/ratelimits/clear", "ratelimit.clear", _clear),
    ("/admin/outbox/retry", "outbox.retry", _outbox_retry),
    ("/admin/clients/{client_id}/notes", "client.note", _note),
    ("/admin/clients/{client_id}/notes/remove", "client.note_remove", _note_remove),
    ("/admin/clients/{client_id}/details", "client.edit", _edit),
    ("/admin/clients/{client_id}/merge", "client.merge", _merge),
    ("/admin/clients/{client_id}/export", "client.export", _export),
    ("/admin/clients/{client_id}/erase", "client.erase", _erase),
    ("/admin/bookings/{booking_id}/link", "booking.link", _new_link),
    ("/admin/account/sessions/end-all", "session.end_all", _end_all),  # last: it logs out
]


def staff_post_routes(app: Starlette) -> set[str]:
    return {
        path
        for path, route in page_routes(app.routes)
        if path.startswith("/admin") and "POST" in (route.methods or set())
    }


async def test_every_staff_post_route_appends_an_audit_entry(walk: Walk) -> None:
    listed = {path for path, _, _ in ACTIONS}
    missing = staff_post_routes(walk.app) - listed
    assert not missing, f"POST routes with no audit row (add one, and audit them): {missing}"
    for path, action, act in ACTIONS:
        before = len(await walk.entries())
        answer = await act(walk)
        assert answer.status_code in (200, 303), (path, answer.status_code, answer.text[:300])
        entries = await walk.entries()
        assert len(entries) == before + 1, f"{path} appended {len(entries) - before} entries"
        entry = entries[-1]
        assert entry["action"] == action, path
        assert entry["actor"] == ADMIN, path
        assert entry["address"] == "127.0.0.1", path
    business = next(e for e in await walk.entries() if e["action"] == "business.save")
    assert business["before"]["name"] == "Test Salon"  # type: ignore[index]
    assert business["after"]["name"] == "Renamed Salon"  # type: ignore[index]
    status = next(e for e in await walk.entries() if e["action"] == "booking.status")
    assert (status["before"]["status"], status["after"]["status"]) == ("confirmed", "completed")  # type: ignore[index]
    assert status["after"]["token_hash"] == "(hidden)"  # type: ignore[index]


async def test_admins_read_the_log_with_filters_and_pages(walk: Walk) -> None:
    audit = core(walk.app).audit
    for n in range(60):
        await audit.record(
            Actor("u1", f"user{n % 2}@example.com", "192.0.2.9"), "test.thing", str(n)
        )
    page = await walk.admin.get("/admin/audit", params={"who": "user1@", "what": "test"})
    assert page.status_code == 200
    assert page.text.count('<li class="audit-entry">') == 30
    assert "user0@example.com" not in page.text
    first = await walk.admin.get("/admin/audit", params={"what": "test.thing"})
    assert first.text.count('<li class="audit-entry">') == 50
    assert "page=2" in first.text
    second = await walk.admin.get("/admin/audit", params={"what": "test.thing", "page": "2"})
    assert second.text.count('<li class="audit-entry">') == 10
    none = await walk.admin.get("/admin/audit", params={"from": "2001-01-01", "to": "2001-01-02"})
    assert "No entries match." in none.text
    rubbish = await walk.admin.get("/admin/audit", params={"from": "soon", "page": "-1"})
    assert rubbish.status_code == 200
    staff = await _staff_browser(walk)
    assert (await staff.get("/admin/audit")).status_code == 403


async def test_the_log_is_append_only() -> None:
    store = KVStore(MemoryBackend(), "audit")
    audit = AuditService(store, clock=lambda: 1_800_000_000.0)  # one instant for every entry
    actor = Actor("u1", "a@example.com", "192.0.2.1")
    for n in range(20):
        await audit.record(actor, "test.thing", str(n), {"password_hash": "x"}, None)
    entries = [e async for e in audit.entries()]
    assert sorted(e.target for e in entries) == sorted(str(n) for n in range(20))
    assert all(e.before == {"password_hash": "(hidden)"} for e in entries)
    public = {name for name in dir(AuditService) if not name.startswith("_")}
    assert public == {"record", "entries", "page"}  # no way to change or remove one
    assert not [e async for e in audit.entries(AuditFilter(since=1_800_000_001.0))]


async def test_audit_export_writes_json_lines(walk: Walk) -> None:
    audit = core(walk.app).audit
    await audit.record(Actor("u1", ADMIN, "192.0.2.9"), "test.old", "1")
    await _status(walk)
    out = walk.tmp_path / "audit.jsonl"
    data = walk.tmp_path / "data"
    assert "2 entries" in export(data, str(out))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["test.old", "booking.status"]
    assert lines[1]["actor"] == ADMIN
    assert "0 entries" in export(data, "--since", "2100-01-01", str(out))
    assert out.read_text() == ""


def export(data: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "parlour", "audit", "export", *args],
        env={**os.environ, "PARLOUR_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
