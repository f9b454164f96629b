"""Staff password reset (issue 13): the same answer for any address, a single-use link valid
for 30 minutes written through the outbox with its hash, limits per address and per IP, and
every other session ended when the password changes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.mail.render import Renderer
from parlour.services.accounts import RESET_VALID, AccountError, AccountService
from parlour.services.outbox.records import Message, State
from parlour.services.sealing import Sealer
from parlour.services.staged import Staged
from parlour.storage import KVStore
from parlour.storage.memory import MemoryBackend
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.web import form_token, log_in, post_form, running

STAFF, PASSWORD, NEW = "staff@example.com", "correct horse battery", "a brand new passphrase"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    settings = load_settings(env_file=None, data_dir=tmp_path, trusted_proxies="127.0.0.1")
    made = create_app(settings)
    async with running(made):
        await core(made).accounts.create_user(STAFF, "staff", PASSWORD)
        yield made


def client(app: Starlette, ip: str = "198.51.100.7") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"x-forwarded-for": ip},
    )


async def ask(app: Starlette, email: str, ip: str = "198.51.100.7") -> httpx.Response:
    async with client(app, ip) as browser:
        return await post_form(browser, "/login/forgot", "/login/forgot", email=email)


async def reset_messages(app: Starlette) -> list[Message]:
    listed = await core(app).outboxes.of("users").listing(2e9)
    return [m for m in listed[State.PENDING] if m.kind == "password_reset"]


def link_in(app: Starlette, message: Message) -> str:
    renderer = Renderer("x@example.com", Sealer(parts(app).secret_key).unseal)
    text = renderer.render(message).text
    found = re.search(r"http://\S+/login/reset/\S+", text)
    assert found, text
    return found.group(0).split("testserver", 1)[-1].split(":8000", 1)[-1]


async def test_the_login_page_offers_it_and_any_address_gets_the_same_answer(
    app: Starlette,
) -> None:
    async with client(app) as browser:
        assert 'href="/login/forgot"' in (await browser.get("/login")).text
    known = await ask(app, STAFF)
    unknown = await ask(app, "nobody@example.com", ip="198.51.100.8")
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace(STAFF, "X") == unknown.text.replace("nobody@example.com", "X")
    (message,) = await reset_messages(app)  # only the real account was written to
    assert message.to == (STAFF,)
    assert not message.limited


async def test_the_link_sets_the_password_once_and_ends_every_session(app: Starlette) -> None:
    async with client(app, "203.0.113.5") as laptop:
        await log_in(laptop, STAFF, PASSWORD)
        assert (await laptop.get("/admin")).status_code == 200
        await ask(app, STAFF)
        (message,) = await reset_messages(app)
        path = link_in(app, message)
        async with client(app) as phone:
            response = await post_form(phone, path, path, password=NEW)
            assert response.status_code == 303
            assert response.headers["location"] == "/login?reset=1"
            again = await phone.get(path)
            assert again.status_code == 410  # single use
            assert "expired or was already used" in again.text
        assert (await laptop.get("/admin")).status_code == 303  # the other session ended
    accounts = core(app).accounts
    assert await accounts.authenticate(STAFF, PASSWORD) is None
    assert await accounts.authenticate(STAFF, NEW) is not None
    # Only the link's hash is stored.
    token = path.rsplit("/", 1)[1]
    assert token not in str(await parts(app).storage.kv("users").get_all_items())


async def test_a_weak_password_is_refused_and_the_link_still_works(app: Starlette) -> None:
    await ask(app, STAFF)
    (message,) = await reset_messages(app)
    path = link_in(app, message)
    async with client(app) as browser:
        refused = await post_form(browser, path, path, password="short")
        assert refused.status_code == 400
        assert "at least 10 characters" in refused.text
        assert (await post_form(browser, path, path, password=NEW)).status_code == 303


async def test_asking_is_limited_per_address_and_per_ip(app: Starlette) -> None:
    statuses = [(await ask(app, STAFF, ip=f"198.51.100.{n}")).status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]  # one address from many places
    others = [(await ask(app, f"x{n}@example.com", ip="192.0.2.1")).status_code for n in range(4)]
    assert others == [200, 200, 200, 429]  # one place asking for many addresses
    assert len(await reset_messages(app)) == 3


async def test_a_bad_address_is_a_400_that_says_what_to_do(app: Starlette) -> None:
    response = await ask(app, "not an address")
    assert response.status_code == 400
    assert "Enter the e-mail address you log in with." in response.text


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def _no_message(_: object) -> Staged:
    return Staged()


async def test_a_link_expires_after_30_minutes_and_only_the_newest_works() -> None:
    clock = Clock()
    backend = MemoryBackend()
    await backend.open()
    accounts = AccountService(KVStore(backend, "users"), clock=clock, stage=_no_message)
    await accounts.create_user(STAFF, "staff", PASSWORD)
    late = await accounts.ask_reset(STAFF)
    first, second = await accounts.ask_reset(STAFF), await accounts.ask_reset(STAFF)
    assert late is not None
    assert first is not None
    assert second is not None
    assert await accounts.ask_reset("nobody@example.com") is None
    clock.now += RESET_VALID - 1
    assert await accounts.reset_state(first.token) == "replaced"
    with pytest.raises(AccountError, match="replaced by a newer one"):
        await accounts.reset_password(first.token, "yet another passphrase")
    assert await accounts.reset_state(second.token) == "valid"
    await accounts.reset_password(second.token, NEW)
    assert await accounts.reset_state(second.token) == "gone"  # used
    assert await accounts.reset_state(first.token) == "replaced"
    clock.now += 2
    assert await accounts.reset_state(late.token) == "gone"  # expired
    with pytest.raises(AccountError, match="expired or was already used"):
        await accounts.reset_password(late.token, "yet another passphrase")
    assert [u.email for u in await accounts.list_users()] == [STAFF]  # reset keys are not users
    await backend.close()


async def test_a_link_older_than_a_password_change_says_so() -> None:
    backend = MemoryBackend()
    await backend.open()
    accounts = AccountService(KVStore(backend, "users"), stage=_no_message)
    await accounts.create_user(STAFF, "staff", PASSWORD)
    asked = await accounts.ask_reset(STAFF)
    assert asked is not None
    await accounts.change_password(STAFF, PASSWORD, NEW)  # its owner remembered it after all
    assert await accounts.reset_state(asked.token) == "changed"
    with pytest.raises(AccountError, match="password was changed after it was sent"):
        await accounts.reset_password(asked.token, "yet another passphrase")
    await backend.close()


async def test_a_link_replaced_by_a_newer_one_says_so_without_a_form(app: Starlette) -> None:
    await ask(app, STAFF)
    (first,) = await reset_messages(app)
    await ask(app, STAFF)
    (second,) = [m for m in await reset_messages(app) if m != first]
    older, newer = link_in(app, first), link_in(app, second)
    async with client(app) as browser:
        page = await browser.get(older)
        # Before: 200 with the form, whose password a POST then refused as "expired".
        assert page.status_code == 410
        assert "replaced by a newer one" in page.text
        assert "most recent e-mail" in page.text
        assert 'name="password"' not in page.text
        assert 'href="/login/forgot"' in page.text
        # The form, posted from a copy of the page, is refused the same way.
        form_page = (await browser.get(newer)).text
        refused = await browser.post(
            older, data={"csrf_token": form_token(form_page), "password": "yet another passphrase"}
        )
        assert refused.status_code == 410
        assert "replaced by a newer one" in refused.text
        # The newest link works, and afterwards the older one still says it was replaced.
        assert (await post_form(browser, newer, newer, password=NEW)).status_code == 303
        assert "replaced by a newer one" in (await browser.get(older)).text
    assert await core(app).accounts.authenticate(STAFF, NEW) is not None


async def test_a_link_older_than_a_password_change_offers_to_log_in(app: Starlette) -> None:
    await ask(app, STAFF)
    (message,) = await reset_messages(app)
    path = link_in(app, message)
    await core(app).accounts.change_password(STAFF, PASSWORD, NEW)
    async with client(app) as browser:
        page = await browser.get(path)
    assert page.status_code == 410
    assert "the password was changed after it was sent" in page.text
    assert 'name="password"' not in page.text
    assert 'href="/login"' in page.text
