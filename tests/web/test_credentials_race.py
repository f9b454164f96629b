"""Sessions follow the account: logins racing a password change or a demotion leave nothing.

Issue 11.3: logins made with the old password while it changed left 3 of 24 sessions alive, and
logins of an admin being demoted left 3 of 30 able to open /admin/users. Each race here keeps
logging in (with the old password, or as the admin) on one instance while another instance
makes the change, until 100 of those logins have been let in; afterwards none of them may work.
On one instance the sessions are in memory and the users in SQLite; on two they share a Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.web.app import create_app
from parlour.web.parts import core

from support.waiting import eventually
from support.web import log_in, post_form, running

TRIES = 100
WORKERS = 4
ADMIN, VICTIM, PASSWORD = "boss@example.com", "ann@example.com", "correct horse battery"


@dataclass
class Sites:
    apps: list[Starlette]
    logins: httpx.AsyncClient
    """Where the racing logins go (one instance)."""
    changes: httpx.AsyncClient
    """Where the change is made (the other instance, or the same one)."""

    def browser(self) -> httpx.AsyncClient:
        transport = self.logins._transport  # a new cookie jar on the same instance
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture(params=["one-instance", pytest.param("two-on-redis", marks=pytest.mark.redis)])
async def sites(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sites]:
    shared = {
        "env_file": None,
        "secret_key": "one secret for both instances of this test",
        "login_rate_limit": "100000/1 minute",
    }
    if request.param == "two-on-redis":
        redis_url = request.getfixturevalue("redis_url")
        shared |= {"redis_url": redis_url, "data_backend": "redis"}
        names = ["one", "two"]
    else:
        names = ["one"]
    apps = [create_app(load_settings(data_dir=tmp_path / name, **shared)) for name in names]
    for app in apps:  # cheap hashes, so a hundred tries take seconds; the race is the same
        core(app).accounts.hasher = PasswordHasher(time_cost=1, memory_cost=2048, parallelism=1)
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(running(app)) for app in apps]
        accounts = core(apps[0]).accounts
        await accounts.create_user(ADMIN, "admin", PASSWORD)
        await accounts.create_user(VICTIM, "admin", PASSWORD)
        yield Sites(apps, clients[0], clients[-1])


async def race(
    sites: Sites,
    password: Callable[[], str],
    change: Callable[[], Awaitable[None]],
    survives: Callable[[httpx.AsyncClient], Awaitable[bool]],
) -> tuple[int, int]:
    """Log in with ``password()`` from several browsers while ``change()`` runs, round after
    round, until ``TRIES`` logins got in; returns (logins let in, sessions still alive after)."""
    admitted = survivors = 0
    while admitted < TRIES:
        browsers = await one_round(sites, password(), change)
        admitted += len(browsers)
        for browser in browsers:
            survivors += await survives(browser)
    return admitted, survivors


async def one_round(
    sites: Sites, password: str, change: Callable[[], Awaitable[None]]
) -> list[httpx.AsyncClient]:
    """The browsers that logged in with ``password`` while ``change()`` ran."""
    done = asyncio.Event()
    browsers: list[httpx.AsyncClient] = []

    async def keep_logging_in() -> None:
        # Again and again until the change is over: some logins read the account before the
        # change and finish after it, which is the race.
        while not done.is_set():
            browser = sites.browser()
            if (await log_in(browser, VICTIM, password)).status_code == 303:
                browsers.append(browser)

    async def make_change() -> None:
        try:
            await change()
        finally:
            done.set()

    await asyncio.gather(make_change(), *(keep_logging_in() for _ in range(WORKERS)))
    return browsers


async def test_logins_with_the_old_password_do_not_survive_its_change(sites: Sites) -> None:
    passwords = [PASSWORD]

    async def change() -> None:
        old, new = passwords[-1], f"new password number {len(passwords)}"
        owner = httpx.AsyncClient(transport=sites.changes._transport, base_url="http://testserver")
        assert (await log_in(owner, VICTIM, old)).status_code == 303
        answer = await post_form(
            owner,
            "/admin/account",
            "/admin/account/password",
            current_password=old,
            new_password=new,
            confirm_password=new,
        )
        assert answer.status_code == 303, answer.text
        passwords.append(new)

    async def survives(browser: httpx.AsyncClient) -> bool:
        return (await browser.get("/admin/account")).status_code == 200

    admitted, survivors = await race(sites, lambda: passwords[-1], change, survives)
    print(f"password change: {survivors} of {admitted} old-password logins survived")
    assert admitted >= TRIES
    assert survivors == 0, f"{survivors} of {admitted} old-password sessions survived"


async def test_logins_of_an_admin_being_demoted_lose_the_admin_pages(sites: Sites) -> None:
    boss = httpx.AsyncClient(transport=sites.changes._transport, base_url="http://testserver")
    assert (await log_in(boss, ADMIN, PASSWORD)).status_code == 303

    async def demote() -> None:
        # promoted again before each round
        await core(sites.apps[-1]).accounts.set_role(VICTIM, "admin")
        answer = await post_form(
            boss, "/admin/users", "/admin/users/role", email=VICTIM, role="staff"
        )
        assert answer.status_code == 303, answer.text

    async def survives(browser: httpx.AsyncClient) -> bool:
        return (await browser.get("/admin/users")).status_code == 200

    admitted, survivors = await race(sites, lambda: PASSWORD, demote, survives)
    print(f"demotion: {survivors} of {admitted} admin logins could still open /admin/users")
    assert admitted >= TRIES
    assert survivors == 0, f"{survivors} of {admitted} demoted sessions kept the admin pages"


async def test_a_change_made_elsewhere_ends_a_session_on_its_next_use(sites: Sites) -> None:
    """A change that sweeps no index (the command line, say) still ends sessions: each request
    compares its session's version with the account's, wherever the account was changed."""
    browser = sites.browser()
    assert (await log_in(browser, VICTIM, PASSWORD)).status_code == 303
    assert (await browser.get("/admin")).status_code == 200
    await core(sites.apps[-1]).accounts.end_sessions(VICTIM)  # the version only, nothing swept

    async def logged_out() -> bool:
        return (await browser.get("/admin")).status_code == 303

    await eventually(logged_out, what="the session ended")
    assert (await browser.get("/admin")).headers["location"] == "/login?next=%2Fadmin"
