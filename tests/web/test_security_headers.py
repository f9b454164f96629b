"""Every response carries the site's security headers; pages hold no inline code (issue 11.1)."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import httpx
import pytest
from PIL import Image

from parlour.config import load_settings
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import MASSAGE, ask, at, client, furnish, upcoming_weekday
from support.web import log_in, running

PASSWORD = "correct horse battery"
TEMPLATES = Path(str(files("parlour.web").joinpath("templates")))


@dataclass
class Site:
    staff: httpx.AsyncClient
    visitor: httpx.AsyncClient
    token: str
    photo: str
    https: bool


@pytest.fixture(params=[None, "https://book.example.com"], ids=["http", "https-origin"])
async def site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Site]:
    origin = request.param
    settings = load_settings(
        env_file=None, data_dir=tmp_path, public_origin=origin, allowed_hosts="testserver"
    )
    app = create_app(settings)
    async with running(app) as staff:
        visitor = httpx.AsyncClient(transport=staff._transport, base_url="http://testserver")
        await furnish(parts(app).storage.kv)
        await core(app).accounts.create_user("admin@example.com", "admin", PASSWORD)
        await log_in(staff, "admin@example.com", PASSWORD)
        booked = await core(app).bookings.book(
            ask({"treatment": MASSAGE.id, "start": at(10, day=upcoming_weekday()), **client()})
        )
        picture = io.BytesIO()
        Image.new("RGB", (64, 48), (196, 140, 120)).save(picture, "PNG")
        photo = await core(app).gallery.upload(picture.getvalue(), "A room")
        async with visitor:
            yield Site(staff, visitor, booked.token, photo.id, https=origin is not None)


def policy(response: httpx.Response) -> dict[str, set[str]]:
    value = response.headers.get("content-security-policy", "")
    directives = [part.split() for part in value.split(";") if part.strip()]
    return {d[0]: set(d[1:]) for d in directives}


async def everything(site: Site) -> dict[str, httpx.Response]:
    """One answer of each kind: public, staff, private link, API, errors, static, photo."""
    static = re.search(r'href="(/static/parlour.css\?v=\w+)"', (await site.visitor.get("/")).text)
    assert static
    return {
        "home": await site.visitor.get("/"),
        "book": await site.visitor.get("/book"),
        "login": await site.visitor.get("/login"),
        "staff": await site.staff.get("/admin"),
        "account": await site.staff.get("/admin/account"),
        "manage": await site.visitor.get(f"/booking/{site.token}"),
        "ics": await site.visitor.get(f"/booking/{site.token}/calendar.ics"),
        "api": await site.visitor.get("/api/treatments"),
        "api-booking": await site.visitor.get(f"/api/bookings/{site.token}"),
        "docs": await site.visitor.get("/api/docs"),
        "not-found": await site.visitor.get("/nowhere"),
        "redirect": await site.visitor.get("/admin"),
        "static": await site.visitor.get(static[1]),
        "static-as-staff": await site.staff.get(static[1]),
        "photo": await site.visitor.get(f"/gallery/{site.photo}.webp"),
        "thumb-as-staff": await site.staff.get(f"/gallery/{site.photo}/thumb.webp"),
    }


async def test_every_answer_carries_the_security_headers(site: Site) -> None:
    for name, response in (await everything(site)).items():
        assert response.status_code in (200, 303, 404), name
        headers = response.headers
        assert headers["x-frame-options"] == "DENY", name
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["referrer-policy"] == "same-origin", name
        assert "camera=()" in headers["permissions-policy"], name
        assert "geolocation=()" in headers["permissions-policy"], name
        csp = policy(response)
        assert csp["default-src"] == {"'self'"}, name
        assert csp["script-src"] == {"'self'"}, name
        assert csp["style-src"] == {"'self'"}, name
        assert csp["frame-ancestors"] == {"'none'"}, name
        assert csp["object-src"] == {"'none'"}, name
        assert csp["base-uri"] == {"'self'"}, name
        assert csp["form-action"] == {"'self'"}, name
        assert csp["img-src"] == ({"'self'", "data:"} if name == "docs" else {"'self'"}), name


async def test_hsts_only_when_the_public_origin_is_https(site: Site) -> None:
    for name, response in (await everything(site)).items():
        if site.https:
            assert response.headers["strict-transport-security"] == "max-age=31536000", name
        else:
            assert "strict-transport-security" not in response.headers, name


LONG_LIVED = {"static", "static-as-staff", "photo", "thumb-as-staff"}


async def test_nothing_with_a_session_or_a_secret_is_stored_but_files_are(site: Site) -> None:
    """Staff, account and manage pages, the API and forms: no-store. Static files and photos
    keep a year, for staff too (their addresses change with their content)."""
    for name, response in (await everything(site)).items():
        if name in LONG_LIVED:
            assert response.status_code == 200, name
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        else:
            assert "no-store" in response.headers["cache-control"], name


async def test_the_api_docs_page_loads_only_this_site(site: Site) -> None:
    page = await site.visitor.get("/api/docs")
    assert page.status_code == 200
    assert "<script>" not in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(sources) == 3
    for source in sources:
        assert source.startswith("/"), source
        asset = await site.visitor.get(source)
        assert asset.status_code == 200, source
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "a style= attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an on...= event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


@pytest.mark.parametrize(
    "template",
    sorted(TEMPLATES.rglob("*.html")),
    ids=lambda path: str(path.relative_to(TEMPLATES)),
)
def test_templates_hold_no_inline_code(template: Path) -> None:
    """What the policy would refuse: kept out of the templates, not only out of the journeys."""
    text = template.read_text()
    for pattern, what in INLINE:
        assert not pattern.search(text), f"{template.name} has {what}"
