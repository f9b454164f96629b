"""Clients as staff meet them: the list and its search, a client's figures and notes, their data
exported and erased (each asked first without JavaScript, each in the audit log), and a fresh
manage link for a booking."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import NAMESPACES, load_settings
from parlour.domain.booking import Status
from parlour.services.bookings.client_keys import client_id, client_key
from parlour.services.bookings.engine import BookingService
from parlour.storage import Storage
from parlour.storage.memory import MemoryBackend
from parlour.storage.ratelimit import MemoryRateLimits
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import DAY, FACIAL, MASSAGE, NOW, ask, at, client, furnish, upcoming_weekday
from support.web import form_token, log_in, post_form, running

PASSWORD = "correct horse battery"
DAY_BEFORE = timedelta(days=1)


@dataclass
class Desk:
    app: Starlette
    staff: httpx.AsyncClient
    day: date
    ann: str
    """Client id of Ann Example: a visit done and reviewed, a no-show, one cancelled."""
    tokens: list[str]


def stopped(instant: datetime) -> Callable[[], datetime]:
    return lambda: instant


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app) as staff:
        kv = parts(app).storage.kv
        await furnish(kv)
        await core(app).accounts.create_user("admin@example.com", "admin", PASSWORD)
        await log_in(staff, "admin@example.com", PASSWORD)
        day, tokens = upcoming_weekday(), []
        catalogue = core(app).catalogue
        ann = client(1, name="Ann Example", email="Ann@Example.com", phone="07700 900111")
        past = datetime.now(UTC).date() - timedelta(days=7)
        while past.weekday() >= 5:
            past -= timedelta(days=1)
        for hour, status in ((9, Status.COMPLETED), (11, Status.NO_SHOW), (14, Status.CANCELLED)):
            # Booked a week ago and closed after the visit: the engine's clock set at each time.
            start = datetime.fromisoformat(at(hour, day=past))
            booker = BookingService(kv("bookings"), catalogue, clock=stopped(start - DAY_BEFORE))
            booked = await booker.book(
                ask({"treatment": MASSAGE.id, "start": at(hour, day=past), **ann})
            )
            closer = BookingService(kv("bookings"), catalogue, clock=stopped(booked.booking.end))
            done = (await closer.set_status(booked.booking, status)).booking
            tokens.append(booked.token)
            if status is Status.COMPLETED:
                await core(app).reviews.submit(done, "5", "Lovely, thank you.")
        await core(app).bookings.book(
            ask({"treatment": FACIAL.id, "start": at(12, day=day), **client(2)})
        )
        key = client_key("ann@example.com", "")
        yield Desk(app, staff, day, client_id(key), tokens)


async def test_the_list_shows_each_clients_figures_and_finds_them(desk: Desk) -> None:
    page = await desk.staff.get("/admin/clients")
    assert page.status_code == 200
    row = page.text[page.text.index("Ann Example") :].split("</tr>")[0]
    cells = re.findall(r'data-label="[^"]+">([^<]*)<', row)
    assert cells[:4] == ["1", "1", "1", "£40.00"]  # visits, no-shows, cancelled, spend
    assert "Client 2" in page.text
    for query in ("ann ex", "ANN@example", "900 111", "07700900111"):
        found = await desk.staff.get("/admin/clients", params={"q": query})
        assert "Ann Example" in found.text, query
        assert "Client 2" not in found.text, query
    none = await desk.staff.get("/admin/clients", params={"q": "nobody at all"})
    assert "No client matches" in none.text


async def test_staff_add_a_note_and_remove_it_after_a_second_step(desk: Desk) -> None:
    page = f"/admin/clients/{desk.ann}"
    added = await post_form(desk.staff, page, f"{page}/notes", note="Patch test done: fine.")
    assert added.status_code == 303
    shown = await desk.staff.get(page)
    assert "Patch test done: fine." in shown.text
    assert "admin@example.com" in shown.text
    empty = await post_form(desk.staff, page, f"{page}/notes", note="   ")
    assert empty.status_code == 422
    assert "Write the note first." in empty.text
    note_id = re.search(r'name="note_id" value="([^"]+)"', shown.text)
    assert note_id
    asked = await post_form(desk.staff, page, f"{page}/notes/remove", note_id=note_id[1])
    assert asked.status_code == 200
    assert "Remove this note on Ann Example?" in asked.text
    assert "Patch test done" in (await desk.staff.get(page)).text  # nothing removed yet
    gone = await post_form(
        desk.staff, page, f"{page}/notes/remove", note_id=note_id[1], confirmed="yes"
    )
    assert gone.status_code == 303
    assert "Patch test done" not in (await desk.staff.get(page)).text


async def test_export_gives_everything_kept_and_is_audited(desk: Desk) -> None:
    page = f"/admin/clients/{desk.ann}"
    await post_form(desk.staff, page, f"{page}/notes", note="Prefers mornings.")
    exported = await post_form(desk.staff, page, f"{page}/export")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"].startswith("attachment;")
    data = json.loads(exported.text)
    assert data["client"]["name"] == "Ann Example"
    assert [b["status"] for b in data["bookings"]] == ["cancelled", "no-show", "completed"]
    assert all("token_hash" not in b for b in data["bookings"])
    assert [r["text"] for r in data["reviews"]] == ["Lovely, thank you."]
    assert [n["text"] for n in data["notes"]] == ["Prefers mornings."]
    actions = [e.action async for e in core(desk.app).audit.entries()]
    assert "client.export" in actions


async def test_erase_asks_first_then_anonymises_everything_of_theirs(desk: Desk) -> None:
    page = f"/admin/clients/{desk.ann}"
    await post_form(desk.staff, page, f"{page}/notes", note="Allergic to nuts.")
    asked = await desk.staff.get(f"{page}/erase")
    assert "Erase Ann Example&#39;s personal data?" in asked.text
    unconfirmed = await post_form(desk.staff, f"{page}/erase", f"{page}/erase")
    assert unconfirmed.status_code == 200  # the question again, nothing erased
    assert (await desk.staff.get(page)).status_code == 200
    erased = await post_form(desk.staff, f"{page}/erase", f"{page}/erase", confirmed="yes")
    assert erased.status_code == 303
    assert (await desk.staff.get(page)).status_code == 404
    every = await core(desk.app).records.every_booking()
    kept = [b for b in every if b.treatment_id == MASSAGE.id]
    assert len(kept) == 3  # for the books
    assert {(b.client_name, b.email, b.phone, b.token_hash) for b in kept} == {
        ("Erased client", "", "", "")
    }
    assert sorted(b.status.value for b in kept) == ["cancelled", "completed", "no-show"]
    for token in desk.tokens:
        assert (await desk.staff.get(f"/booking/{token}")).status_code == 404
    reviews = await core(desk.app).reviews.all()
    assert [r.name for r in reviews] == ["Former client"]
    listing = await desk.staff.get("/admin/clients")
    assert "Ann" not in listing.text
    assert "Client 2" in listing.text
    entries = [e async for e in core(desk.app).audit.entries()]
    erase = next(e for e in entries if e.action == "client.erase")
    assert erase.after == {"bookings": 3, "reviews": 1, "notes": 1}
    assert "ann@example.com" not in json.dumps(erase.to_json()).casefold()


async def test_erase_is_refused_while_a_booking_is_to_come(desk: Desk) -> None:
    two = client_id(client_key("client2@example.com", ""))
    page = f"/admin/clients/{two}"
    refused = await post_form(desk.staff, f"{page}/erase", f"{page}/erase", confirmed="yes")
    assert refused.status_code == 303
    shown = await desk.staff.get(page)
    assert "has a booking still to come. Cancel it first" in shown.text


async def test_staff_make_a_new_manage_link_and_the_old_one_stops(desk: Desk) -> None:
    booked = await core(desk.app).bookings.book(
        ask({"treatment": FACIAL.id, "start": at(15, day=desk.day), **client(3)})
    )
    page = f"/admin/bookings/{booked.booking.id}"
    assert (await desk.staff.get(f"/booking/{booked.token}")).status_code == 200
    asked = await post_form(desk.staff, page, f"{page}/link")
    assert "Make a new link for Client 3?" in asked.text
    made = await post_form(desk.staff, page, f"{page}/link", confirmed="yes")
    assert made.status_code == 200
    link = re.search(r'<p class="manage-link"><a href="([^"]+)">', made.text)
    assert link
    token = link[1].rsplit("/", 1)[1]
    assert (await desk.staff.get(f"/booking/{token}")).status_code == 200
    assert (await desk.staff.get(f"/booking/{booked.token}")).status_code == 404
    actions = [e.action async for e in core(desk.app).audit.entries()]
    assert "booking.link" in actions


async def test_only_admins_export_or_erase(desk: Desk) -> None:
    await core(desk.app).accounts.create_user("desk@example.com", "staff", PASSWORD)
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=desk.app), base_url="http://testserver"
    )
    await log_in(other, "desk@example.com", PASSWORD)
    page = f"/admin/clients/{desk.ann}"
    shown = await other.get(page)
    assert shown.status_code == 200
    assert "Erase their data" not in shown.text
    token = form_token(shown.text)
    for action in ("export", "erase"):
        response = await other.post(f"{page}/{action}", data={"csrf_token": token})
        assert response.status_code == 403, action


class Counting(MemoryBackend):
    """The memory backend, counting the items of the bookings namespace it hands out."""

    def __init__(self) -> None:
        super().__init__()
        self.scanned = 0
        self.read = 0

    async def get(self, namespace: str, key: str) -> str | None:
        self.read += namespace == "bookings"
        return await super().get(namespace, key)

    async def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        self.read += len(keys) if namespace == "bookings" else 0
        return await super().get_many(namespace, keys)

    async def scan(self, namespace: str, batch_size: int) -> AsyncIterator[list[tuple[str, str]]]:
        async for batch in super().scan(namespace, batch_size):
            self.scanned += len(batch) if namespace == "bookings" else 0
            yield batch


@dataclass
class Crowd:
    app: Starlette
    staff: httpx.AsyncClient
    counting: Counting
    booked: int


async def book_clients(app: Starlette, first: int, last: int, crowd: Crowd | None = None) -> int:
    """Two massages each for clients ``first`` to ``last`` - 1, on the weekdays from DAY."""
    kv = parts(app).storage.kv
    booker = BookingService(kv("bookings"), core(app).catalogue, clock=lambda: NOW)
    made = crowd.booked if crowd else 0
    for n in [*range(first, last), *range(first, last)]:
        day = DAY + timedelta(days=made // 16)
        while day.weekday() >= 5:
            made += 16
            day = DAY + timedelta(days=made // 16)
        start = at(9 + made % 16 // 2, 30 * (made % 2), day=day)
        await booker.book(ask({"treatment": MASSAGE.id, "start": start, **client(n)}))
        made += 1
    return made


@pytest.fixture
async def crowd(tmp_path: Path) -> AsyncIterator[Crowd]:
    counting = Counting()
    storage = Storage({"memory": counting}, dict.fromkeys(NAMESPACES, counting), MemoryRateLimits())
    app = create_app(load_settings(env_file=None, data_dir=tmp_path), storage=storage)
    async with running(app) as staff:
        await furnish(parts(app).storage.kv)
        await core(app).accounts.create_user("admin@example.com", "admin", PASSWORD)
        await log_in(staff, "admin@example.com", PASSWORD)
        booked = await book_clients(app, 0, 60)
        yield Crowd(app, staff, counting, booked)


async def test_the_list_reads_what_a_page_shows_not_the_whole_namespace(crowd: Crowd) -> None:
    # Issue 21: /admin/clients read every key of the bookings namespace on every view (p50
    # 960 ms, p99 4.9 s at 4,400 bookings). Now a view reads the page's stretch of the index.
    first = await crowd.staff.get("/admin/clients")  # an upgraded deployment builds it, once
    assert first.status_code == 200
    crowd.counting.scanned = crowd.counting.read = 0
    assert (await crowd.staff.get("/admin/clients")).status_code == 200
    assert crowd.counting.scanned == 0
    a_page = crowd.counting.read
    assert a_page < 500  # 120 bookings: about 1,000 items in the namespace
    crowd.booked = await book_clients(crowd.app, 60, 240, crowd)  # four times the clients
    await crowd.staff.get("/admin/clients")  # the index takes in the new clients, once
    crowd.counting.scanned = crowd.counting.read = 0
    again = await crowd.staff.get("/admin/clients")
    assert again.text.count("<tr class") + again.text.count("<tr>") > 50
    assert crowd.counting.scanned == 0
    assert crowd.counting.read <= a_page + 10  # a page of 50 costs what it did


async def test_the_list_pages_through_every_client_once(crowd: Crowd) -> None:
    for query in ("", "client", "07700 900123"):
        names: list[str] = []
        page = await crowd.staff.get("/admin/clients", params={"q": query} if query else None)
        for _ in range(5):
            names += re.findall(r'<td><a href="/admin/clients/[0-9a-f]+">([^<]+)</a>', page.text)
            following = re.search(r'<a href="([^"]+)" rel="next">Next page', page.text)
            if following is None:
                break
            assert "First page" not in page.text or names[50:]
            page = await crowd.staff.get(following[1].replace("&amp;", "&"))
            assert "First page" in page.text
        assert len(names) == len(set(names)) == 60, query
        assert names[:2] == ["Client 0", "Client 1"] if not query else names[:2]
