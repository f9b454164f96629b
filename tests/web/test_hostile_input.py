"""A table of hostile inputs, sent to a real `parlour serve` process: each is answered with a 4xx
(never a 5xx, never a hang) and stores nothing.

Each row is one request a careless or malicious client could send; "stores nothing" is checked by
counting every durable namespace before and after.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from PIL import Image

from parlour.config import NAMESPACES, load_settings
from parlour.services.accounts import AccountService
from parlour.storage import Storage

from support.processes import served
from support.salon import MASSAGE, at, client, furnish, upcoming_weekday
from support.web import form_token, log_in

STAFF, OTHER, PASSWORD = "desk@example.com", "other@example.com", "a long staff password"
pytestmark = pytest.mark.asyncio(loop_scope="module")  # one server for the whole table
DURABLE = [name for name in NAMESPACES if name not in ("sessions", "ratelimit")]


@dataclass
class Site:
    base: str
    data: Path
    staff: httpx.AsyncClient  # logged in as STAFF
    other: httpx.AsyncClient  # logged in as OTHER
    visitor: httpx.AsyncClient  # has an anonymous CSRF cookie from the details page
    api: httpx.AsyncClient  # a script: no cookies at all

    async def counts(self) -> dict[str, int]:
        settings = load_settings(env_file=None, data_dir=self.data)
        async with Storage.from_settings(settings) as storage:
            return {name: len(await storage.kv(name).get_all_items()) for name in DURABLE}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    folder = tmp_path_factory.mktemp("hostile")
    data = folder / "data"
    async with Storage.from_settings(load_settings(env_file=None, data_dir=data)) as storage:
        await furnish(storage.kv)
        accounts = AccountService(storage.kv("users"))
        await accounts.create_user(STAFF, "admin", PASSWORD)
        await accounts.create_user(OTHER, "admin", PASSWORD)
    env = {
        "PARLOUR_DATA_DIR": str(data),
        "PARLOUR_LOG_LEVEL": "error",
        "PARLOUR_BOOKING_RATE_LIMIT": "100000/1 minute",
        "PARLOUR_LOGIN_RATE_LIMIT": "100000/1 minute",
    }
    async with (
        served(folder, env) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as staff,
        httpx.AsyncClient(base_url=base, timeout=30) as other,
        httpx.AsyncClient(base_url=base, timeout=30) as visitor,
        httpx.AsyncClient(base_url=base, timeout=30) as api,
    ):
        await log_in(staff, STAFF, PASSWORD)
        await log_in(other, OTHER, PASSWORD)
        yield Site(base, data, staff, other, visitor, api)


def png(width: int = 64, height: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 150, 120)).save(out, "PNG")
    return out.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width`` x ``height`` black pixels, about 110 KB for 30,000 square
    (what an attacker sends: a small file that decodes to gigabytes). Written row by row rather
    than through Pillow, which would build the whole image in memory first (22 s and 2.7 GB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    packer, row = zlib.compressobj(9), b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def booking(**changes: str) -> dict[str, str]:
    return {"treatment": MASSAGE.id, "start": at(10, day=upcoming_weekday()), **client(), **changes}


async def details_form(site: Site, **fields: str) -> httpx.Response:
    """The public booking form, posted by a browser that loaded it (with its anonymous token)."""
    page = await site.visitor.get(
        f"/book/{MASSAGE.id}/details", params={"start": booking()["start"]}
    )
    form = {"csrf_token": form_token(page.text), **booking(), **fields}
    return await site.visitor.post(f"/book/{MASSAGE.id}/details", data=form)


async def upload(
    site: Site, name: str, content: bytes, kind: str, caption: str = ""
) -> httpx.Response:
    page = await site.staff.get("/admin/gallery")
    return await site.staff.post(
        "/admin/gallery",
        data={"csrf_token": form_token(page.text), "caption": caption},
        files={"photo": (name, content, kind)},
    )


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def _replayed(site: Site) -> httpx.Response:
    """OTHER's own form token, sent with STAFF's session."""
    page = await site.other.get("/admin/account")
    token = form_token(page.text)
    return await site.staff.post("/logout", data={"csrf_token": token})


Send = Callable[[Site], Awaitable[httpx.Response]]
ROWS: dict[str, tuple[Send, set[int]]] = {
    # -- sizes ----------------------------------------------------------------------------------
    "a 2 MiB JSON body": (
        lambda s: s.api.post(
            "/api/bookings", content=b" " * (2 << 20), headers={"content-type": "application/json"}
        ),
        {413},
    ),
    "a 2 MiB form": (lambda s: details_form(s, name="x" * (2 << 20)), {413}),
    "64 KiB of headers": (
        lambda s: s.visitor.get("/", headers={"x-padding": "a" * (64 << 10)}),
        {431},
    ),
    "a 40 KiB cookie": (
        lambda s: s.visitor.get(
            "/admin", headers={"cookie": "parlour_session=" + "A" * (40 << 10)}
        ),
        {431},
    ),
    "a 40 KiB query string": (
        lambda s: s.api.get("/api/availability", params={"date": "x" * (40 << 10)}),
        {431},
    ),
    "availability for 31 December 9999": (
        lambda s: s.api.get(
            "/api/availability", params={"treatment": MASSAGE.id, "date": "9999-12-31"}
        ),
        {200},  # an empty day, not an overflow
    ),
    "JSON nested 100,000 deep": (
        lambda s: s.api.post(
            "/api/bookings", content=nested(100_000), headers={"content-type": "application/json"}
        ),
        {400, 422},
    ),
    # -- cookies and tokens ----------------------------------------------------------------------
    "a malformed session cookie on a form post": (
        lambda s: s.visitor.post(
            f"/book/{MASSAGE.id}/details",
            data=booking(),
            headers={"cookie": "parlour_session=%%%;;=="},
        ),
        {403},
    ),
    "a session cookie that is not UTF-8": (
        lambda s: s.visitor.post(
            f"/book/{MASSAGE.id}/details",
            data=booking(),
            headers=[(b"cookie", b"parlour_session=\xff\xfe")],
        ),
        {403},
    ),
    "a forged CSRF token": (
        # From a browser that loaded the form (so it holds the CSRF cookie a forger rides on);
        # a request with no cookie at all has no session to forge and is not asked for one.
        lambda s: details_form(
            s, csrf_token=base64.urlsafe_b64encode(secrets.token_bytes(64)).decode()
        ),
        {403},
    ),
    "a CSRF token replayed from another member of staff": (
        _replayed,
        {403},
    ),
    "a forged anonymous CSRF cookie with its own token": (
        lambda s: s.visitor.post(
            f"/book/{MASSAGE.id}/details",
            data={**booking(), "csrf_token": base64.urlsafe_b64encode(bytes(64)).decode()},
            headers={"cookie": "parlour_csrf=" + "A" * 43 + "." + "B" * 43},
        ),
        {403},
    ),
    "a post from another site": (
        lambda s: s.api.post(
            "/api/bookings", json=booking(), headers={"origin": "https://evil.example"}
        ),
        {403},
    ),
    # -- uploads -------------------------------------------------------------------------------
    "a shell script named ../../../etc/cron.d/x.png": (
        lambda s: upload(s, "../../../etc/cron.d/x.png", b"#!/bin/sh\nrm -rf /\n", "image/png"),
        {422},
    ),
    "a PNG header followed by HTML and script": (
        lambda s: upload(
            s, "polyglot.png", png()[:33] + b"<html><script>alert(1)</script>", "image/png"
        ),
        {422},
    ),
    "a GIF that is also JavaScript": (
        lambda s: upload(
            s, "gifar.gif", b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=alert(1)//;", "image/gif"
        ),
        {422},
    ),
    "an SVG with a script, sent as PNG": (
        lambda s: upload(
            s,
            "x.png",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "image/png",
        ),
        {422},
    ),
    "a decompression bomb (30,000 x 30,000 pixels)": (
        lambda s: upload(s, "bomb.png", bomb_png(30_000, 30_000), "image/png"),
        {422},
    ),
    "a caption with a right-to-left override": (
        lambda s: upload(s, "fine.png", png(), "image/png", caption="holiday\u202egpj.exe"),
        {422},
    ),
    # -- text -----------------------------------------------------------------------------------
    "a NUL byte in a name (API)": (
        lambda s: s.api.post("/api/bookings", json=booking(name="Zoë\x00")),
        {422},
    ),
    "a NUL byte in a name (form)": (lambda s: details_form(s, name="Zoë\x00"), {422}),
    "a right-to-left override in a name": (
        lambda s: s.api.post("/api/bookings", json=booking(name="Ann\u202enhoJ")),
        {422},
    ),
    "a lone surrogate in a name": (
        lambda s: s.api.post(
            "/api/bookings",
            content=b'{"treatment":"t_massage","start":"'
            + booking()["start"].encode()
            + b'","name":"\\ud800","email":"a@example.com","phone":"07700 900123"}',
            headers={"content-type": "application/json"},
        ),
        {422},
    ),
    "a bell in an e-mail address": (
        lambda s: s.api.post("/api/bookings", json=booking(email="a\x07@example.com")),
        {422},
    ),
    "a form body that is not UTF-8": (
        lambda s: s.visitor.post(
            f"/book/{MASSAGE.id}/details",
            content=b"name=\xff\xfe&email=\xc0",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        {400, 403, 422},
    ),
    "a booking for a date in year 9999": (
        lambda s: s.api.post("/api/bookings", json=booking(start="9999-12-31T23:59:59Z")),
        {422},
    ),
    "a booking in the past": (
        lambda s: s.api.post("/api/bookings", json=booking(start="2001-01-01T10:00:00Z")),
        {422},
    ),
    "a start time with no offset": (
        lambda s: s.api.post("/api/bookings", json=booking(start="2026-12-01T10:00:00")),
        {422},
    ),
    # -- paths ---------------------------------------------------------------------------------
    "../ in a static path": (lambda s: s.visitor.get("/static/..%2f..%2fpyproject.toml"), {404}),
    "../ in a photo path": (
        lambda s: s.visitor.get("/gallery/..%2f..%2fdata%2fparlour.db.webp"),
        {404},
    ),
    "a manage token of 5,000 characters": (
        lambda s: s.visitor.get("/booking/" + "A" * 5000),
        {404},
    ),
}


@pytest.mark.parametrize("case", list(ROWS))
async def test_hostile_input_is_refused_and_stores_nothing(site: Site, case: str) -> None:
    send, expected = ROWS[case]
    before = await site.counts()
    answer = await send(site)
    assert answer.status_code in expected, (case, answer.status_code, answer.text[:300])
    assert await site.counts() == before, case
    if answer.status_code >= 400:  # says what to do, in JSON or on a page
        if answer.headers.get("content-type", "").startswith("application/json"):
            assert json.loads(answer.text)["message"], case
        else:
            assert "<h1>" in answer.text or answer.text.strip(), case


async def test_a_valid_photo_with_a_path_in_its_name_is_stored_without_the_name(site: Site) -> None:
    before = await site.counts()
    answer = await upload(site, "../../../../etc/passwd.png", png(), "image/png", caption="Calm")
    assert answer.status_code == 303
    assert (await site.counts())["gallery"] > before["gallery"]
    assert not (site.data / "passwd.png").exists()
    listing = (await site.staff.get("/admin/gallery")).text
    assert "passwd" not in listing


async def test_a_jpeg_carrying_a_zip_is_stored_re_encoded_without_it(site: Site) -> None:
    out = io.BytesIO()
    Image.new("RGB", (80, 60), (10, 120, 200)).save(out, "JPEG")
    payload = b"PK\x03\x04" + b"hidden archive contents " * 40
    answer = await upload(
        site, "carrier.jpg", out.getvalue() + payload, "image/jpeg", caption="Zip"
    )
    assert answer.status_code == 303
    listing = (await site.staff.get("/admin/gallery")).text
    photo = listing.split('src="/gallery/')[1].split("/thumb.webp")[0]
    served_photo = await site.visitor.get(f"/gallery/{photo}.webp")
    assert served_photo.status_code == 200
    assert served_photo.content.startswith(b"RIFF")  # re-encoded as WebP
    assert b"hidden archive contents" not in served_photo.content
