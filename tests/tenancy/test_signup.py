"""Self-serve sign-up on the platform's host (issue 23): a pending salon and a link by e-mail
through the platform's outbox; the link, used once, makes the owner an admin of the salon's own
accounts, opens the salon and logs the owner in on the salon's host, where a first-run guide
waits. Reserved and taken slugs, the limits, and links expired or used are refused with a
message a person can act on."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.mail.render import Renderer
from parlour.runtime import Runtime
from parlour.services.outbox.records import Message, State
from parlour.services.sealing import Sealer
from parlour.services.signup import SIGNUP_VALID
from parlour.services.tenants import Status
from parlour.web.app import create_app
from parlour.web.parts import parts

from support.smtp_server import SmtpServer
from support.waiting import until
from support.web import form_token, running

DOMAIN = "salons.test"
OWNER, PASSWORD = "ana@example.com", "a long owner password"


def browser(app: Starlette, host: str = DOMAIN, ip: str = "198.51.100.7") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(ip, 50000)), base_url=f"http://{host}"
    )


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    settings = load_settings(
        env_file=None, data_dir=tmp_path, tenancy="multi", platform_domain=DOMAIN
    )
    made = create_app(settings)
    async with running(made):
        yield made


def runtime_of(app: Starlette) -> Runtime:
    return parts(app).runtime


async def sign_up(
    app: Starlette,
    slug: str,
    name: str = "Ana's Nails",
    email: str = OWNER,
    ip: str = "198.51.100.7",
) -> httpx.Response:
    async with browser(app, ip=ip) as visitor:
        page = await visitor.get("/signup")
        fields = {"name": name, "slug": slug, "email": email}
        return await visitor.post("/signup", data={**fields, "csrf_token": form_token(page.text)})


async def welcome_messages(app: Starlette) -> list[Message]:
    outbox = runtime_of(app).home.core.outboxes.of("users")
    listed = await outbox.listing(2e9)
    return [m for m in listed[State.PENDING] if m.kind == "salon_welcome"]


def link_path(app: Starlette, text: str) -> str:
    found = re.search(r"http://\S+(/signup/confirm/\S+)", text)
    assert found, text
    return found.group(1)


def rendered(app: Starlette, message: Message) -> str:
    return Renderer("x@example.com", Sealer(parts(app).secret_key).unseal).render(message).text


async def confirm(app: Starlette, path: str, password: str = PASSWORD) -> httpx.Response:
    async with browser(app) as visitor:
        page = await visitor.get(path)
        token = form_token(page.text) if page.status_code == 200 else ""
        return await visitor.post(path, data={"password": password, "csrf_token": token})


def moved_on_to(answer: httpx.Response) -> str:
    """Where the page after a confirmation sends the browser (a refresh, and a link)."""
    assert answer.status_code == 200, answer.text
    found = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', answer.text)
    assert found, answer.text
    assert f'href="{found[1]}"' in answer.text
    return found[1]


async def test_the_whole_sign_up_through_a_real_smtp_server(tmp_path: Path) -> None:
    server = SmtpServer().start()
    try:
        settings = load_settings(
            env_file=None,
            data_dir=tmp_path,
            tenancy="multi",
            platform_domain=DOMAIN,
            smtp_url=server.url,
            public_origin=f"http://{DOMAIN}",
        )
        app = create_app(settings)
        async with running(app):
            asked = await sign_up(app, "ana")
            assert asked.status_code == 200
            assert "Check your e-mail" in asked.text
            assert f"http://ana.{DOMAIN}" in asked.text
            tenants = runtime_of(app).tenants
            assert tenants is not None
            salon = await tenants.require("ana")
            assert salon.status is Status.PENDING
            async with browser(app, f"ana.{DOMAIN}") as early:  # not served before it is confirmed
                assert (await early.get("/")).status_code == 404
            await until(lambda: len(server.received) == 1, what="the welcome e-mail")
            (mail,) = server.received
            assert mail.recipients == (OWNER,)
            body = mail.message.get_body(("plain",))
            assert body is not None
            text = body.get_content()
            assert "Ana's Nails" in text
            path = link_path(app, text)
            # Only the link's hash is stored.
            token = path.rsplit("/", 1)[1]
            users = runtime_of(app).storage.salon("platform").kv("users")
            assert token not in str(await users.get_all_items())

            answer = await confirm(app, path)
            welcome = moved_on_to(answer)
            assert welcome.startswith(f"http://ana.{DOMAIN}/login/welcome/")
            salon = await tenants.require("ana")
            assert salon.status is Status.ACTIVE
            async with browser(app, f"ana.{DOMAIN}") as owner:
                landed = await owner.get(welcome.split(DOMAIN, 1)[1])
                assert landed.status_code == 303
                assert landed.headers["location"] == "/admin"
                admin = await owner.get("/admin")
                assert admin.status_code == 200
                assert "Welcome: three steps before clients can book" in admin.text
                assert 'href="/admin/treatments/new"' in admin.text
                assert "Ana&#39;s Nails" in (await owner.get("/")).text
                # Its forms work at its host, as a browser sends them (with its Origin), though
                # PARLOUR_PUBLIC_ORIGIN names the platform's: the guide's first step gets done.
                form = await owner.get("/admin/business")
                saved = await owner.post(
                    "/admin/business",
                    data={
                        "csrf_token": form_token(form.text),
                        "name": "Ana's Nails",
                        "address": "1 Mill Lane",
                        "phone": "01225 555 0100",
                        "currency": "GBP",
                        "locale": "en_GB",
                        "timezone": "Europe/London",
                        "slot_step": "15",
                        "min_notice": "120",
                        "horizon_days": "60",
                        "cancel_cutoff_hours": "24",
                    },
                    headers={"origin": f"http://ana.{DOMAIN}"},
                )
                assert saved.status_code == 303, saved.text
                guide = (await owner.get("/admin")).text
                assert "Done:</span> Add your address and phone number" in guide
                # The one-time login works once.
                async with browser(app, f"ana.{DOMAIN}") as thief:
                    again = await thief.get(welcome.split(DOMAIN, 1)[1])
                    assert again.headers["location"].startswith("/login")
            # The owner is an admin of the salon's own accounts, not the platform's.
            assert runtime_of(app).salons is not None
            services = runtime_of(app).salons.services(salon)  # type: ignore[union-attr]
            account = await services.core.accounts.get(OWNER)
            assert account is not None
            assert account.role == "admin"
            assert await runtime_of(app).home.core.accounts.get(OWNER) is None
    finally:
        server.stop()


async def test_the_link_works_once(app: Starlette) -> None:
    assert (await sign_up(app, "ana")).status_code == 200
    (message,) = await welcome_messages(app)
    path = link_path(app, rendered(app, message))
    first = await confirm(app, path)
    moved_on_to(first)
    async with browser(app) as late:
        again = await late.get(path)
        assert again.status_code == 410
        assert "expired or was already used" in again.text
    second = await confirm(app, path, "another long password")
    assert second.status_code == 410


async def test_an_expired_link_says_so_and_frees_the_slug(app: Starlette) -> None:
    assert (await sign_up(app, "ana")).status_code == 200
    (message,) = await welcome_messages(app)
    path = link_path(app, rendered(app, message))
    tenants = runtime_of(app).tenants
    assert tenants is not None
    later = tenants.clock() + SIGNUP_VALID + 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tenants, "clock", lambda: later)  # the salon and its link, a day on
        async with browser(app) as late:
            gone = await late.get(path)
            assert gone.status_code == 410
            assert "sign up again" in gone.text
        # Another owner may now take the abandoned address.
        taken = await sign_up(app, "ana", "Another Ana", "other@example.com", "192.0.2.9")
        assert taken.status_code == 200
    assert (await tenants.require("ana")).owner_email == "other@example.com"
    confirmed = await confirm(app, path)  # the first link opens nothing of the second salon
    assert confirmed.status_code == 410


@pytest.mark.parametrize("slug", ["www", "admin", "api", "platform"])
async def test_a_reserved_slug_is_refused_saying_why(app: Starlette, slug: str) -> None:
    answer = await sign_up(app, slug)
    assert answer.status_code == 400
    assert "is kept for the platform. Please choose another." in answer.text.replace("&#39;", "'")
    assert await welcome_messages(app) == []


async def test_a_taken_slug_says_so_and_counts_nothing(app: Starlette) -> None:
    assert (await sign_up(app, "ana")).status_code == 200
    for _ in range(4):  # more than the limit: a taken address is answered before counting
        answer = await sign_up(app, "ana", email="someone@example.com", ip="192.0.2.50")
        assert answer.status_code == 409
        assert "The address ana is taken" in answer.text
    assert (
        await sign_up(app, "ana-2", email="someone@example.com", ip="192.0.2.50")
    ).status_code == 200


async def test_bad_fields_get_messages_to_act_on(app: Starlette) -> None:
    answer = await sign_up(app, "Not A Slug!", name=" ", email="nobody")
    assert answer.status_code == 400
    assert "lower-case letters, digits and hyphens" in answer.text
    assert "Give your salon&#39;s name" in answer.text
    assert 'aria-invalid="true"' in answer.text


async def test_signing_up_is_limited_per_owner_address_and_per_client(app: Starlette) -> None:
    by_owner = [
        (await sign_up(app, f"a{n}", ip=f"198.51.100.{n + 10}")).status_code for n in range(4)
    ]
    assert by_owner == [200, 200, 200, 429]  # one address from many places
    by_client = [
        (await sign_up(app, f"b{n}", email=f"b{n}@example.com", ip="192.0.2.1")).status_code
        for n in range(4)
    ]
    assert by_client == [200, 200, 200, 429]  # one place for many addresses
    assert len(await welcome_messages(app)) == 6


async def test_the_platform_wide_limit_per_address_applies_to_sign_up(tmp_path: Path) -> None:
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path,
        tenancy="multi",
        platform_domain=DOMAIN,
        platform_rate_limit="2/1 minute",
    )
    app = create_app(settings)
    async with running(app):
        statuses = [
            (await sign_up(app, f"c{n}", email=f"c{n}@example.com", ip="192.0.2.7")).status_code
            for n in range(3)
        ]
    assert statuses == [200, 200, 429]


async def test_a_weak_password_is_refused_and_the_link_still_works(app: Starlette) -> None:
    assert (await sign_up(app, "ana")).status_code == 200
    (message,) = await welcome_messages(app)
    path = link_path(app, rendered(app, message))
    weak = await confirm(app, path, "short")
    assert weak.status_code == 400
    assert "at least 10 characters" in weak.text
    runtime = runtime_of(app)
    assert runtime.tenants is not None
    assert (await runtime.tenants.require("ana")).status is Status.PENDING
    good = await confirm(app, path)
    moved_on_to(good)


async def test_the_platform_host_serves_the_files_its_pages_link_to(app: Starlette) -> None:
    async with browser(app) as visitor:
        home = await visitor.get("/")
        links = re.findall(r'(?:href|src)="(/static/[^"]+|/favicon.ico)"', home.text)
        assert len(links) >= 3  # the stylesheet, the script, the icon
        for link in links:
            assert (await visitor.get(link)).status_code == 200, link


@pytest.mark.parametrize("path", ["/signup", "/signup/confirm/some-token-of-twenty-chars"])
async def test_the_platform_forms_refuse_a_post_without_their_token(
    app: Starlette, path: str
) -> None:
    async with browser(app) as visitor:
        await visitor.get("/signup")  # the anonymous CSRF cookie
        fields = {"name": "Ana", "slug": "ana", "email": OWNER, "password": PASSWORD}
        answer = await visitor.post(path, data=fields)
    assert answer.status_code == 403
    runtime = runtime_of(app)
    assert runtime.tenants is not None
    assert await runtime.tenants.get("ana") is None
