"""Issue 23, proof: every route of the app, replayed at salon B's host with salon A's session
cookie, CSRF token, ids and tokens, for each role A has (anonymous, staff, admin), answers 403 or
404 (or sends the visitor to B's own login) and never shows B's private records or any of A's.

The routes are enumerated, not listed by hand: the pages (``support.web.page_routes``), the API
(its OpenAPI document) and the platform's own pages, so a route added later is replayed too.
Path parameters are filled with A's ids (a booking, a treatment and a therapist only A has, a
client, a photo, an outbox message) and tokens (a manage link, a password reset). The parameter-
less public pages (the home page, the treatment list, the login form...) are B's own and answer
200 with B's public content, and nothing else. Afterwards neither salon's stored records have
changed, and A's sessions still work at A.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_plus

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.routing import Mount

from parlour.config import load_settings
from parlour.runtime import Runtime
from parlour.web.app import create_app
from parlour.web.middleware.hosts import MACHINE_PATHS
from parlour.web.parts import parts
from parlour.web.platform import routes as platform_routes

from support.backends import params, settings_for
from support.salon import MASSAGE, ask, at, client, upcoming_weekday
from support.tenancy import PASSWORD, Furnished, SalonEventStream, open_salon, snapshot
from support.web import form_token, log_in, page_routes, running

DOMAIN = "salons.test"
ROLES = ("anonymous", "staff", "admin")
PUBLIC_PAGES = frozenset(
    {"/", "/treatments", "/book", "/reviews", "/gallery", "/login", "/login/forgot"}
    | {"/api/treatments"}
)
"""B's own public pages, which take nothing of A's: 200 at B's host, with B's public content."""
SAME_FOR_EVERYONE = frozenset({"/login", "/login/forgot", "/logout", "/login/code"})
"""Forms that answer every visitor alike (a refused login, "if the address has an account...",
a logout of nobody): at B's host they must refuse A's credentials and change nothing."""
INSTANCE_PATHS = frozenset({*MACHINE_PATHS, "/favicon.ico"})
"""The instance's, not a salon's: the same at every host (``web/middleware/salons.py``)."""
KEPT_APART = ("sessions", "audit")
"""What a refused visit may write at B (none is A's data): compared apart below."""


@dataclass
class Deployment:
    app: Starlette
    runtime: Runtime
    a: Furnished
    b: Furnished


@pytest.fixture(params=params(["memory", "sqlite", "redis", "postgres"]))
async def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, cheap_hasher: PasswordHasher
) -> AsyncIterator[Deployment]:
    settings = settings_for(
        request.param, request, tmp_path, tenancy="multi", platform_domain=DOMAIN
    )
    app = create_app(settings, password_hasher=cheap_hasher)
    async with running(app):
        runtime = parts(app).runtime
        a = await open_salon(runtime, "alpha", "Salon Alpha", DOMAIN)
        b = await open_salon(runtime, "bravo", "Salon Bravo", DOMAIN)
        yield Deployment(app, runtime, a, b)


def visitor(app: Starlette, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


@dataclass(frozen=True)
class Credentials:
    cookie: str
    """The ``Cookie`` header A's browser sends at A."""
    token: str
    """A CSRF token of A's session (or of A's anonymous form cookie)."""


async def credentials_at_a(d: Deployment, role: str) -> Credentials:
    async with visitor(d.app, d.a.host) as browser:
        if role == "anonymous":
            token = form_token((await browser.get("/login")).text)
        else:
            email = d.a.staff if role == "staff" else d.a.admin
            answer = await log_in(browser, email, PASSWORD)
            assert answer.status_code == 303, answer.text[:300]
            token = form_token((await browser.get("/admin/account")).text)
        assert browser.cookies, "A gave the browser no cookie to replay"
        cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    return Credentials(cookie, token)


def every_route(app: Starlette) -> list[tuple[str, str]]:
    """(method, path) of every page, API operation and platform page, as enumerated."""
    found: set[tuple[str, str]] = set()
    for path, route in page_routes(app.routes):
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, path))
    api = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/api").app
    for path, operations in api.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method in operations:
            found.add((method.upper(), f"/api{path}"))
    for path, route in page_routes(platform_routes()):
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, path))
    return sorted(found, key=lambda pair: (pair[1], pair[0]))


def fill(path: str, a: Furnished) -> str:
    """``path`` with A's ids and tokens in its parameters."""
    values = {
        "booking_id": a.booking_id,
        "treatment_id": a.treatment_id,
        "resource_id": a.resource_id,
        "photo_id": a.photo_id,
        "client_id": a.client_id,
        "namespace": "bookings",
        "message_id": a.message_id,
        "token": a.reset_token if path.startswith("/login/reset") else a.token,
        "slug": a.salon.slug,
    }

    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        assert name in values, f"no value of A's for the parameter {name!r} of {path}"
        return values[name]

    return re.sub(r"\{([^}]+)\}", value, path)


def form_of(a: Furnished, token: str) -> dict[str, str]:
    """Every field a form of Parlour's takes, filled with A's values."""
    return {
        "csrf_token": token,
        "email": a.staff,
        "password": PASSWORD,
        "current": PASSWORD,
        "new": PASSWORD + "!",
        "treatment": a.treatment_id,
        "resource": a.resource_id,
        "start": at(11, day=upcoming_weekday()),
        "name": "Replayed",
        "phone": "07700 900123",
        "status": "cancelled",
        "role": "admin",
        "booking_id": a.booking_id,
        "photo_id": a.photo_id,
        "caption": "replayed",
        "text": "replayed",
        "note": a.client_id,
        "note_id": "n1",
        "code": "123456",
        "stars": "1",
        "confirmed": "yes",
        "action": "delete",
        "namespace": "bookings",
        "message_id": a.message_id,
        "session": "x",
    }


def leaked(answer: httpx.Response, d: Deployment) -> list[str]:
    """A's words, or B's private words, in an answer B's host gave to A's visitor (but what the
    visitor sent, which a form may show back: an e-mail address, an id in a "not found")."""
    sent = f"{answer.request.url} {answer.request.content.decode(errors='replace')}"
    words = (*d.a.markers, *d.a.public, *d.b.markers)
    return [w for w in words if w in answer.text and w not in unquote_plus(sent)]


def refused(answer: httpx.Response, b_host: str) -> bool:
    if answer.status_code in (403, 404):
        return True
    location = answer.headers.get("location", "")
    to_login = location.startswith(("/login", f"http://{b_host}/login"))
    return answer.status_code in (302, 303, 307) and to_login


async def replay(
    d: Deployment, role: str, creds: Credentials, routes: list[tuple[str, str]]
) -> Counter[str]:
    """Every route at B's host with A's credentials of ``role``; what each answer was."""
    outcomes: Counter[str] = Counter()
    async with visitor(d.app, d.b.host) as attacker:
        for method, template in routes:
            path = fill(template, d.a)
            attacker.cookies.clear()  # only what A's browser holds, never what B set
            headers = {"cookie": creds.cookie, "x-csrf-token": creds.token}
            params = {"treatment": d.a.treatment_id, "date": str(upcoming_weekday())}
            if method == "GET":
                answer = await attacker.get(path, headers=headers, params=params)
            elif path.startswith("/api/"):
                body = {k: form_of(d.a, creds.token)[k] for k in ("treatment", "start", "name")}
                body |= {"email": "replay@example.com", "phone": "07700 900123"}
                answer = await attacker.post(path, headers=headers, json=body)
            else:
                answer = await attacker.post(path, headers=headers, data=form_of(d.a, creds.token))
            where = f"{role} {method} {template} -> {answer.status_code}"
            assert not leaked(answer, d), f"{where} shows {leaked(answer, d)}"
            assert d.a.host not in answer.headers.get("location", ""), where
            assert answer.status_code < 500, f"{where}: {answer.text[:300]}"
            if refused(answer, d.b.host):
                outcomes["refused"] += 1
            elif "{token}" in template and answer.status_code in (400, 410):
                made_up = template.replace("{token}", "made-up-token-0123456789")
                if method == "GET":
                    unknown = await attacker.get(made_up, headers=headers)
                else:
                    unknown = await attacker.post(
                        made_up, headers=headers, data=form_of(d.a, creds.token)
                    )
                assert unknown.status_code == answer.status_code, where
                outcomes["as a made-up token"] += 1
            elif method == "GET" and template in PUBLIC_PAGES and answer.status_code == 200:
                assert d.b.salon.name in answer.text or d.b.salon.slug in answer.text, where
                outcomes["B's public page"] += 1
            elif method == "POST" and template in SAME_FOR_EVERYONE:
                assert answer.status_code in (200, 303, 400, 401, 429), where
                location = answer.headers.get("location", "")
                assert not location.startswith("/admin"), f"{where}: A's login let in at B"
                outcomes["the same for everyone"] += 1
            else:
                raise AssertionError(f"{where}: neither refused nor B's public page")
    return outcomes


async def test_every_route_with_salon_a_credentials_at_salon_b_is_refused(
    deployment: Deployment,
) -> None:
    d = deployment
    routes = [
        (m, p)
        for m, p in every_route(d.app)
        if p not in INSTANCE_PATHS and not p.startswith("/static")
    ]
    logged_in = {role: await credentials_at_a(d, role) for role in ROLES}
    before_a = await snapshot(d.a.services.stores, leaving=("audit",))
    before_b = await snapshot(d.b.services.stores, leaving=KEPT_APART)
    b_sessions = await d.b.services.stores.kv("sessions").get_all_items()
    total: Counter[str] = Counter()
    for role in ROLES:
        total += await replay(d, role, logged_in[role], routes)
    assert total.total() == len(routes) * len(ROLES)
    print(f"isolation: {len(routes)} routes x {len(ROLES)} roles = {total.total()}: {dict(total)}")
    # Nothing of A's changed, its sessions included; nothing of B's; A's sessions still work.
    assert await snapshot(d.a.services.stores, leaving=("audit",)) == before_a
    assert await snapshot(d.b.services.stores, leaving=KEPT_APART) == before_b
    assert await d.b.services.stores.kv("sessions").get_all_items() == b_sessions
    async with visitor(d.app, d.a.host) as at_a:
        for role in ("staff", "admin"):
            mine = await at_a.get("/admin", headers={"cookie": logged_in[role].cookie})
            assert mine.status_code == 200, role


async def test_a_manage_link_of_a_is_not_found_at_b(deployment: Deployment) -> None:
    d = deployment
    async with visitor(d.app, d.b.host) as at_b, visitor(d.app, d.a.host) as at_a:
        for path in (f"/booking/{d.a.token}", f"/api/bookings/{d.a.token}"):
            assert (await at_b.get(path)).status_code == 404, path
            assert (await at_a.get(path)).status_code == 200, path
        assert (await at_b.get(f"/booking/{d.b.token}")).status_code == 200


async def test_a_session_of_a_is_anonymous_at_b(deployment: Deployment) -> None:
    d = deployment
    creds = await credentials_at_a(d, "admin")
    async with visitor(d.app, d.b.host) as at_b, visitor(d.app, d.a.host) as at_a:
        answer = await at_b.get("/admin", headers={"cookie": creds.cookie})
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")
        mine = await at_a.get("/admin", headers={"cookie": creds.cookie})
        assert mine.status_code == 200
        assert "Salon Alpha" in mine.text


async def test_each_salons_live_calendar_hears_its_own_bookings_only(
    deployment: Deployment,
) -> None:
    # The staff desk's live feed subscribed to "the" bookings of the deployment: with many
    # salons that is no salon (NoSalonInScope), so every salon's /admin/events answered 500.
    d = deployment
    async with visitor(d.app, d.b.host) as b_staff:
        assert (await log_in(b_staff, d.b.staff, PASSWORD)).status_code == 303
        async with SalonEventStream(d.app, "/admin/events", b_staff.cookies, d.b.host) as feed:
            assert feed.status == 200
            assert await feed.next_event() == "hello"
            start = at(14, day=upcoming_weekday())
            fields = {"treatment": MASSAGE.id, "start": start}
            theirs = await d.a.services.core.bookings.book(ask({**fields, **client(7)}))
            mine = await d.b.services.core.bookings.book(ask({**fields, **client(8)}))
            # B's own earlier changes may still be on their way (SQLite's change log is read
            # from a little before the subscription): B's, but never one of A's.
            earlier = {d.b.booking_id, d.b.reviewed_id}
            heard = await feed.next_booking()
            while heard in earlier:
                heard = await feed.next_booking()
            assert heard == mine.booking.id, (heard, theirs.booking.id)


async def test_salon_b_admin_with_salon_a_ids_finds_nothing_of_a(deployment: Deployment) -> None:
    """B's own admin, logged in at B, asking B's every page for A's ids and tokens: each route
    that takes an id or token answers 404 or 403 (or as for a made-up token), every page without
    one is B's, and nothing of A's shows or changes."""
    d = deployment
    async with visitor(d.app, d.b.host) as admin:
        assert (await log_in(admin, d.b.admin, PASSWORD)).status_code == 303
        token = form_token((await admin.get("/admin/account")).text)
        before_a = await snapshot(d.a.services.stores)
        outcomes: Counter[str] = Counter()
        for method, template in every_route(d.app):
            takes_id = "{" in template
            if template in INSTANCE_PATHS or template.startswith("/static"):
                continue
            if not takes_id and (method != "GET" or template == "/admin/events"):
                continue  # B's own forms without an id act on B alone: not replayed here
            path = fill(template, d.a)
            params = {"treatment": d.a.treatment_id, "date": str(upcoming_weekday())}
            b_before = await snapshot(d.b.services.stores, leaving=KEPT_APART)
            if method == "GET":
                answer = await admin.get(path, params=params)
            elif path.startswith("/api/"):
                answer = await admin.post(path, json={"treatment": d.a.treatment_id})
            else:
                answer = await admin.post(path, data=form_of(d.a, token))
            where = f"B's admin {method} {template} -> {answer.status_code}"
            sent = unquote_plus(f"{answer.request.url} {answer.request.content.decode()}")
            shown = [w for w in (*d.a.markers, *d.a.public) if w in answer.text and w not in sent]
            assert not shown, f"{where} shows {shown}"
            assert answer.status_code < 500, where
            if not takes_id:  # 404: the query names A's treatment; 303: /login, logged in
                assert answer.status_code in (200, 303, 404), where
                assert d.a.host not in answer.headers.get("location", ""), where
                outcomes["B's page" if answer.status_code == 200 else "refused"] += 1
            elif answer.status_code in (403, 404, 422):
                outcomes["refused"] += 1
            elif method == "POST" and answer.status_code == 303:
                # Deleting what is not there is done already (as with one salon): fine, as long
                # as nothing of B's changed (nor of A's: checked at the end).
                after = await snapshot(d.b.services.stores, leaving=KEPT_APART)
                assert after == b_before, f"{where} changed B's records"
                outcomes["nothing to do"] += 1
            elif answer.status_code == 303:  # the welcome login: a made-up token is sent
                assert "{token}" in template, where  # to log in at B's own host
                assert refused(answer, d.b.host), where
                outcomes["refused"] += 1
            else:
                assert "{token}" in template, where
                assert answer.status_code in (400, 410), where
                outcomes["as a made-up token"] += 1
        print(f"B's admin with A's ids: {outcomes.total()} routes: {dict(outcomes)}")
    assert await snapshot(d.a.services.stores) == before_a


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [("http://bravo.salons.test", True), ("http://alpha.salons.test", False)],
    ids=["its-own-page", "another-salons-page"],
)
async def test_a_salons_forms_post_from_its_own_pages_only(
    tmp_path: Path, cheap_hasher: PasswordHasher, origin: str, allowed: bool
) -> None:
    # PARLOUR_PUBLIC_ORIGIN names the bare platform domain; the CSRF check compared a browser's
    # Origin with it, so every form a browser posted at a salon's host was refused (403).
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path,
        data_backend="memory",
        tenancy="multi",
        platform_domain=DOMAIN,
        public_origin=f"http://{DOMAIN}",
    )
    app = create_app(settings, password_hasher=cheap_hasher)
    async with running(app):
        runtime = parts(app).runtime
        for slug in ("alpha", "bravo"):
            await open_salon(runtime, slug, slug.title(), DOMAIN)
        async with visitor(app, f"bravo.{DOMAIN}") as browser:
            token = form_token((await browser.get("/login")).text)
            answer = await browser.post(
                "/login",
                data={
                    "email": "bravozzstaff@example.com",
                    "password": PASSWORD,
                    "csrf_token": token,
                },
                headers={"origin": origin, "sec-fetch-site": "same-origin"},
            )
    assert answer.status_code == (303 if allowed else 403), answer.text[:300]
