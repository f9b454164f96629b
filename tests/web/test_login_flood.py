"""A login flood costs little before the password hash (issue 21): the throttle counts before any
hash, an unknown account included; a full hashing pool answers 503 with Retry-After at once,
checks nothing and counts no guess. What it saves is measured in bench/login_flood.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette

from parlour.config import load_settings
from parlour.services.ratelimit import Identity
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.waiting import until
from support.web import log_in, post_form, running

ADMIN, PASSWORD, WRONG = "admin@example.com", "correct horse battery", "not the password"


class GatedHasher(PasswordHasher):
    """argon2 at its cheapest, whose checks wait for the test to open the gate, and are counted."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=2048, parallelism=1)
        self.gate = threading.Event()
        self.gate.set()
        self.checks = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # type: ignore[override]
        with self._lock:
            self.checks += 1
        self.gate.wait(timeout=30)
        return super().verify(hash, password)


@dataclass
class Site:
    app: Starlette
    hasher: GatedHasher

    def browser(self, address: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://testserver",
            headers={"x-forwarded-for": address},
        )

    async def fill_the_pool(self) -> list[asyncio.Task[httpx.Response]]:
        """Two logins waiting on the closed gate: one hashing, one queued."""
        self.hasher.gate.clear()
        waiting = [
            asyncio.create_task(log_in(self.browser(f"192.0.2.{n}"), f"x{n}@example.com", WRONG))
            for n in range(2)
        ]
        await until(lambda: core(self.app).accounts.hashing.full, what="the pool full")
        return waiting

    async def login_window(self, address: str) -> int:
        """Failed logins still allowed from ``address``."""
        return (await parts(self.app).limiter.peek("login", Identity.ip(address))).remaining


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path,
        trusted_proxies="127.0.0.1",
        password_hash_threads=1,
        password_hash_queue=1,
    )
    app = create_app(settings)
    hasher = core(app).accounts.hasher = GatedHasher()
    async with running(app):
        await core(app).accounts.create_user(ADMIN, "admin", PASSWORD)
        yield Site(app, hasher)


async def test_a_full_pool_answers_503_at_once_checks_nothing_and_counts_nothing(
    site: Site,
) -> None:
    waiting = await site.fill_the_pool()
    answer = await log_in(site.browser("198.51.100.3"), ADMIN, WRONG)
    assert answer.status_code == 503
    assert int(answer.headers["retry-after"]) >= 1
    assert "was not checked" in answer.text
    assert "try again in" in answer.text
    assert await site.login_window("198.51.100.3") == 10  # not counted as a failed login
    site.hasher.gate.set()
    assert [(await task).status_code for task in waiting] == [400, 400]
    assert site.hasher.checks == 2  # the two admitted; the refused login never reached argon2
    transport = httpx.ASGITransport(app=site.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as local:
        metrics = (await local.get("/metrics")).text
    assert "parlour_password_hashing_refused_total 1.0" in metrics


async def test_a_check_refused_after_its_guess_was_counted_gives_the_guess_back(
    site: Site,
) -> None:
    address = "198.51.100.4"
    async with site.browser(address) as browser:
        assert (await log_in(browser, ADMIN, PASSWORD)).status_code == 303
        before = await site.login_window(address)
        waiting = await site.fill_the_pool()
        # Changing the password counts a guess first (a wrong current password is a failed
        # login), then checks it: the pool refuses, so the guess is given back.
        answer = await post_form(
            browser,
            "/admin/account",
            "/admin/account/password",
            current_password=WRONG,
            new_password="a new long password",
            confirm_password="a new long password",
        )
    assert answer.status_code == 503
    assert await site.login_window(address) == before
    site.hasher.gate.set()
    await asyncio.gather(*waiting)


async def test_the_throttle_answers_before_any_hash_for_unknown_and_known_accounts(
    site: Site,
) -> None:
    address = "198.51.100.5"
    for n in range(10):  # the address's ten failures, each checked once
        email = ADMIN if n % 2 else f"nobody{n}@example.com"
        assert (await log_in(site.browser(address), email, WRONG)).status_code == 400
    checked = site.hasher.checks
    assert checked == 10
    for email in ("someone-else@example.com", ADMIN):
        assert (await log_in(site.browser(address), email, WRONG)).status_code == 429
    assert site.hasher.checks == checked  # refused by the throttle: no argon2 at all
