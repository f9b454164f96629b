"""The salon on every page, its policy before it binds, money as its locale writes it, and
pages a browser can cache, compress and show under a strict Content-Security-Policy."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.redis_server import RedisServer
from support.salon import FACIAL, MASSAGE, ask, at, client, furnish, past_visit, upcoming_weekday
from support.web import form_token, log_in, post_form, running

PASSWORD = "correct horse battery"
NAME, PHONE = "Test Salon", "01225 555 0100"


@dataclass
class Salon:
    app: Starlette
    staff: httpx.AsyncClient
    day: date

    def visitor(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )


@pytest.fixture
async def salon(tmp_path: Path) -> AsyncIterator[Salon]:
    settings = load_settings(env_file=None, data_dir=tmp_path, login_rate_limit="2/15 minutes")
    app = create_app(settings)
    async with running(app) as staff:
        catalogue = await furnish(parts(app).storage.kv)
        business = await catalogue.business()
        await catalogue.put_business(replace(business, phone=PHONE, address="1 Mill Lane"))
        await core(app).accounts.create_user("admin@example.com", "admin", PASSWORD)
        await log_in(staff, "admin@example.com", PASSWORD)
        yield Salon(app, staff, upcoming_weekday())


def names_the_salon(html: str) -> bool:
    return NAME in html and 'href="tel:012255550100"' in html and "1 Mill Lane" in html


async def test_error_pages_and_the_login_name_the_salon_and_its_phone(salon: Salon) -> None:
    async with salon.visitor() as visitor:
        pages = {
            "unknown page": await visitor.get("/no/such/page"),
            "mistyped manage link": await visitor.get("/booking/not-a-real-token-at-all"),
            "login": await visitor.get("/login"),
            "unknown treatment": await visitor.get("/book/t_nope"),
        }
        for _ in range(3):  # the third wrong password is over the limit of two
            limited = await visitor.post(
                "/login",
                data={
                    "email": "admin@example.com",
                    "password": "wrong",
                    "csrf_token": form_token((await visitor.get("/login")).text),
                },
            )
        pages["too many attempts"] = limited
    assert pages["unknown page"].status_code == 404
    assert pages["mistyped manage link"].status_code == 404
    assert pages["too many attempts"].status_code == 429
    for name, page in pages.items():
        assert names_the_salon(page.text), name
        assert f"· {NAME}</title>" in page.text, name
        assert "Parlour" not in page.text, name  # the software's name is not the salon's


async def test_staff_pages_name_the_salon_too(salon: Salon) -> None:
    for path in ("/admin/account", "/admin/users", "/admin/ratelimits", "/admin/resources"):
        page = await salon.staff.get(path)
        assert page.status_code == 200
        assert names_the_salon(page.text), path


async def test_public_pages_show_the_opening_hours(salon: Salon) -> None:
    async with salon.visitor() as visitor:
        home = (await visitor.get("/")).text
    assert "Opening hours" in home
    assert re.search(r"<dt>Monday to Friday</dt><dd>09:00-17:00</dd>", home)
    assert re.search(r"<dt>Saturday to Sunday</dt><dd>Closed</dd>", home)


async def test_the_change_policy_is_shown_before_confirming(salon: Salon) -> None:
    async with salon.visitor() as visitor:
        details = await visitor.get(
            f"/book/{MASSAGE.id}/details", params={"start": at(10, day=salon.day)}
        )
    html = details.text
    policy = html.index("24 hours before")
    assert policy < html.index("Confirm booking")
    assert 'href="tel:012255550100"' in html[policy : html.index("Confirm booking")]


async def test_a_currency_must_be_one_in_use_and_yen_have_no_minor_units(salon: Salon) -> None:
    fields = {
        "name": NAME,
        "timezone": "Europe/London",
        "slot_step": "15",
        "min_notice": "60",
        "horizon_days": "60",
        "cancel_cutoff_hours": "24",
    }
    bad = await post_form(
        salon.staff, "/admin/business", "/admin/business", currency="XYZ", **fields
    )
    assert bad.status_code == 422
    assert "f-currency-error" in bad.text
    bad_locale = await post_form(
        salon.staff, "/admin/business", "/admin/business", currency="JPY", locale="xx_XX", **fields
    )
    assert "f-locale-error" in bad_locale.text
    good = await post_form(
        salon.staff, "/admin/business", "/admin/business", currency="jpy", locale="ja_JP", **fields
    )
    assert good.status_code == 303
    half_yen = await post_form(
        salon.staff,
        f"/admin/treatments/{FACIAL.id}",
        f"/admin/treatments/{FACIAL.id}",
        name="Facial",
        duration="60",
        price="2800.50",
        resource_ids="r_ann",
        active="on",
    )
    assert half_yen.status_code == 422
    assert "Like 2800" in half_yen.text
    whole = await post_form(
        salon.staff,
        f"/admin/treatments/{FACIAL.id}",
        f"/admin/treatments/{FACIAL.id}",
        name="Facial",
        duration="60",
        price="2800",
        resource_ids="r_ann",
        active="on",
    )
    assert whole.status_code == 303
    async with salon.visitor() as visitor:
        listing = (await visitor.get("/treatments")).text
    assert "￥2,800" in listing
    assert "28.00" not in listing


async def test_pages_are_compressed_and_event_streams_are_not(salon: Salon) -> None:
    async with salon.visitor() as visitor:
        home = await visitor.get("/", headers={"accept-encoding": "gzip"})
        assert home.headers["content-encoding"] == "gzip"
        raw = await visitor.get("/", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in raw.headers
    # The desk's event stream stays plain: gzip would hold events back in its buffer.
    from support.web import EventStream

    async with EventStream(salon.app, "/admin/events", salon.staff.cookies) as stream:
        assert stream.status == 200
        assert await stream.next_event() == "hello"
    assert gzip.decompress(gzip.compress(b"x")) == b"x"


async def test_static_files_are_immutable_only_under_their_fingerprint(salon: Salon) -> None:
    async with salon.visitor() as visitor:
        home = (await visitor.get("/")).text
        stylesheet = re.search(r'href="(/static/parlour\.css\?v=[0-9a-f]+)"', home)
        assert stylesheet
        fresh = await visitor.get(stylesheet[1])
        assert fresh.headers["cache-control"] == "public, max-age=31536000, immutable"
        for stale in ("/static/parlour.css", "/static/parlour.css?v=0123456789ab"):
            assert (await visitor.get(stale)).headers["cache-control"] == "no-cache", stale
        icon = await visitor.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/x-icon"
        assert '<meta name="description" content="Test Salon, 1 Mill Lane' in home


async def test_no_page_has_an_inline_style_or_script(salon: Salon) -> None:
    """What a strict Content-Security-Policy (style-src 'self'; script-src 'self') refuses."""
    booking = await core(salon.app).bookings.book(
        ask({"treatment": MASSAGE.id, "start": at(10, day=salon.day), **client()})
    )
    day = salon.day.isoformat()
    paths = [
        "/admin",
        f"/admin/calendar?date={day}",
        f"/admin/calendar?view=week&date={day}",
        f"/admin/bookings/{booking.booking.id}",
        "/admin/bookings/new",
        "/admin/gallery",
        "/",
        f"/book/{MASSAGE.id}?date={day}",
        f"/booking/{booking.token}",
    ]
    for path in paths:
        html = (await salon.staff.get(path)).text
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"<script(?![^>]*\ssrc=)", html), path
        assert not re.search(r"\son[a-z]+=", html), path


async def test_cancel_done_and_no_show_ask_first_without_javascript(salon: Salon) -> None:
    booked = await core(salon.app).bookings.book(
        ask({"treatment": MASSAGE.id, "start": at(10, day=salon.day), **client(3)})
    )
    page = f"/admin/bookings/{booked.booking.id}"
    visit, _ = await past_visit(
        parts(salon.app).storage.kv, core(salon.app).catalogue, 3, done=False
    )
    for status, path in (
        ("cancelled", page),
        ("completed", f"/admin/bookings/{visit.id}"),  # done and no-show: once it has started
        ("no-show", f"/admin/bookings/{visit.id}"),
    ):
        asked = await post_form(
            salon.staff, "/admin", f"{path}/status", status=status, next="/admin"
        )
        assert asked.status_code == 200, status
        assert "Client 3" in asked.text
        assert 'name="confirmed" value="yes"' in asked.text
        assert 'href="/admin"' in asked.text  # "No, go back" returns where it came from
        still = await core(salon.app).bookings.get(path.rsplit("/", 1)[1])
        assert still.status.value == "confirmed", status
    done = await post_form(
        salon.staff, "/admin", f"{page}/status", status="cancelled", confirmed="yes", next="/admin"
    )
    assert done.status_code == 303
    assert (await core(salon.app).bookings.get(booked.booking.id)).status.value == "cancelled"
    # Back to confirmed undoes nothing the client would regret: no question.
    again = await post_form(salon.staff, page, f"{page}/status", status="confirmed")
    assert again.status_code == 303
    # The forms also carry a question for the JavaScript dialog.
    assert "data-confirm=" in (await salon.staff.get(page)).text


async def test_deleting_a_photo_asks_first(salon: Salon) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(picture, "PNG")
    photo = await core(salon.app).gallery.upload(picture.getvalue(), "The nail bar")
    token = form_token((await salon.staff.get("/admin/gallery")).text)
    asked = await salon.staff.post(
        f"/admin/gallery/{photo.id}", data={"csrf_token": token, "action": "delete"}
    )
    assert asked.status_code == 200
    assert "Delete the photo “The nail bar”?" in asked.text
    assert len(await core(salon.app).gallery.photos()) == 1
    gone = await salon.staff.post(
        f"/admin/gallery/{photo.id}",
        data={"csrf_token": token, "action": "delete", "confirmed": "yes"},
    )
    assert gone.status_code == 303
    assert await core(salon.app).gallery.photos() == []


async def test_a_move_marks_the_current_time_and_never_goes_back_a_day(salon: Salon) -> None:
    booked = await core(salon.app).bookings.book(
        ask({"treatment": MASSAGE.id, "start": at(10, day=salon.day), **client(4)})
    )
    page = f"/admin/bookings/{booked.booking.id}"
    html = (await salon.staff.get(page)).text
    assert re.search(r'<span class="slot current" aria-current="true">10:00', html)
    assert 'aria-label="Move to ' in html
    today = (await salon.staff.get(page, params={"date": "2020-01-01"})).text
    assert "cannot move to a day that has passed" in today
    assert re.search(r'type="date" name="date" value="(\d{4}-\d\d-\d\d)" min="\1"', today)
    past = await post_form(
        salon.staff, page, f"{page}/reschedule", start="2020-01-01T10:00:00+00:00", confirmed="yes"
    )
    assert past.status_code == 303
    assert (await core(salon.app).bookings.get(booked.booking.id)).start == booked.booking.start


async def test_a_free_cell_of_the_grid_starts_a_booking_there(salon: Salon) -> None:
    day = salon.day.isoformat()
    grid = (await salon.staff.get(f"/admin/calendar?date={day}")).text
    cells = re.findall(r'<a class="free [^"]*" data-time="11:00" href="([^"]+)"', grid)
    assert len(cells) == 2  # Ann and Bob are both free at 11:00
    link = cells[1].replace("&amp;", "&")
    assert "resource=r_bob" in link
    chooser = await salon.staff.get(link)
    assert "New booking with Bob" in chooser.text
    assert MASSAGE.name not in chooser.text  # Bob does no massage: only what he performs
    with_treatment = await salon.staff.get(link + f"&treatment={FACIAL.id}")
    assert re.search(r'<option value="[^"]+" selected>11:00</option>', with_treatment.text)
    assert '<input type="hidden" name="resource" value="r_bob">' in with_treatment.text


@pytest.mark.redis
async def test_a_503_names_the_salon_when_its_details_can_be_read(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    """Sessions on a Redis that has gone, the catalogue in SQLite: the error still says whose
    site this is."""
    app = create_app(load_settings(env_file=None, data_dir=tmp_path, redis_url=private_redis.url))
    async with running(app) as staff:
        catalogue = await furnish(parts(app).storage.kv, phone=PHONE, address="1 Mill Lane")
        assert (await catalogue.business()).name == NAME
        await core(app).accounts.create_user("admin@example.com", "admin", PASSWORD)
        await log_in(staff, "admin@example.com", PASSWORD)
        private_redis.stop()
        down = await staff.get("/admin")
        assert down.status_code == 503
        assert names_the_salon(down.text)
        private_redis.start()
