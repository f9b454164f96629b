"""Sign-up in a real browser (issue 23): on the platform's host of a many-salon `parlour serve`,
a new owner fills the form, follows the link from the e-mail (a real SMTP server), chooses a
password and lands, logged in, in the new salon's staff pages at its own host, with the
first-run guide. At 360, 390 and 1280 px every page fits the window, and axe-core finds nothing
at the two audited sizes. ``<slug>.localhost`` is loopback to Chromium, so the salon's host needs
no DNS."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
import pytest_asyncio
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, ViewportSize, expect

from parlour.config import load_settings
from parlour.runtime import Runtime

from support.browser import DESKTOP, NARROW, PHONE, Chromium, new_page
from support.processes import serving
from support.redis_server import free_port
from support.smtp_server import SmtpServer
from support.waiting import until

pytestmark = [pytest.mark.asyncio(loop_scope="module")]
PASSWORD = "an owner's long password"
OPERATOR = "op@platform.example"


@dataclass
class Platform:
    base: str
    port: int
    smtp: SmtpServer
    shots: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """One many-salon server for the module (each sign-up takes its own slug), with an
    operator account made beforehand as `parlour create-user` would."""
    tmp_path = tmp_path_factory.mktemp("platform")
    smtp = SmtpServer().start()
    port = free_port()
    settings = load_settings(
        env_file=None, data_dir=tmp_path / "data", tenancy="multi", platform_domain="localhost"
    )
    async with Runtime.from_settings(settings).opened() as core:
        await core.accounts.create_user(OPERATOR, "admin", PASSWORD)
    env = {
        "PARLOUR_TENANCY": "multi",
        "PARLOUR_PLATFORM_DOMAIN": "localhost",
        "PARLOUR_PUBLIC_ORIGIN": f"http://localhost:{port}",
        "PARLOUR_DATA_DIR": str(tmp_path / "data"),
        "PARLOUR_SMTP_URL": smtp.url,
        "PARLOUR_LOG_LEVEL": "warning",
    }
    shots = Path(os.environ.get("PARLOUR_TEST_SCREENSHOTS") or tmp_path / "screenshots")
    await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
    try:
        async with serving(tmp_path, env, port=port):
            yield Platform(f"http://localhost:{port}", port, smtp, shots)
    finally:
        smtp.stop()


WIDTHS = "[document.documentElement.scrollWidth, window.innerWidth]"


async def problems_of(page: Page, name: str, size: ViewportSize, audit: bool) -> list[str]:
    found = []
    width = await page.evaluate(WIDTHS)
    if width[0] > min(width[1], size["width"]):
        found.append(f"{name} ({page.url}): {width[0]} px wide in {width[1]} px")
    if audit:
        results = await Axe().run(page)
        if results.violations_count:
            found.append(f"{name} ({page.url}):\n{results.generate_report()}")
    return found


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("size", "audit", "suffix"),
    [(NARROW, False, None), (PHONE, True, "-phone"), (DESKTOP, True, "")],
    ids=["360", "390", "1280"],
)
async def test_sign_up_confirm_and_land_in_the_new_salon(
    platform: Platform,
    browser: Chromium,
    size: ViewportSize,
    audit: bool,
    suffix: str | None,
) -> None:
    slug = f"ana-{size['width']}"
    owner = f"ana{size['width']}@example.com"
    page = await new_page(browser, size)
    problems: list[str] = []

    async def check(name: str) -> None:
        problems.extend(await problems_of(page, name, size, audit))
        if suffix is not None:
            await page.screenshot(path=platform.shots / f"{name}{suffix}.png", full_page=True)

    await page.goto(platform.base + "/")
    await page.get_by_role("link", name="Open your salon").first.click()
    await expect(page.get_by_role("heading", name="Open your salon")).to_be_visible()
    await page.get_by_label("Your salon's name").fill("Ana's Nails")
    await page.get_by_label("Its address").fill("www")  # reserved: refused, saying why
    await page.get_by_label("Your e-mail address").fill(owner)
    await page.get_by_role("button", name="Send me the link").click()
    await expect(page.get_by_text("is kept for the platform").first).to_be_visible()
    await check("30-signup-refused")
    await page.get_by_label("Its address").fill(slug)
    await page.get_by_role("button", name="Send me the link").click()
    await expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    await expect(page.get_by_text(f"http://{slug}.localhost:{platform.port}")).to_be_visible()
    await check("31-signup-sent")

    def delivered() -> list[str]:
        return [
            text
            for mail in platform.smtp.received
            if owner in mail.recipients
            for text in [mail.message.get_body(("plain",)).get_content()]  # type: ignore[union-attr]
        ]

    await until(lambda: bool(delivered()), what="the sign-up e-mail")
    link = re.search(r"http://localhost:\d+/signup/confirm/\S+", delivered()[0])
    assert link, delivered()[0]
    await page.goto(link.group(0))
    await expect(page.get_by_role("heading", name="Open Ana's Nails")).to_be_visible()
    await check("32-signup-confirm")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Open my salon").click()
    await expect(page.get_by_text(f"Logged in as {owner}")).to_be_visible()
    assert page.url == f"http://{slug}.localhost:{platform.port}/admin"
    await expect(
        page.get_by_role("heading", name="Welcome: three steps before clients can book")
    ).to_be_visible()
    await check("33-first-run")
    await page.get_by_role("link", name="Add a treatment, with its price and length").click()
    await expect(page).to_have_url(re.compile(r"/admin/treatments/new$"))
    assert not problems, "\n".join(problems)


@pytest.mark.timeout(120)
async def test_the_operator_sets_up_two_factor_and_reaches_the_console(
    platform: Platform, browser: Chromium
) -> None:
    """After the sign-ups above: the console lists them. At a phone's width, axe-clean."""
    page = await new_page(browser, PHONE)
    problems: list[str] = []

    async def check(name: str) -> None:
        problems.extend(await problems_of(page, name, PHONE, True))
        await page.screenshot(path=platform.shots / f"{name}-phone.png", full_page=True)

    await page.goto(platform.base + "/operator")
    await check("34-operator-login")
    await page.get_by_label("E-mail address").fill(OPERATOR)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("button", name="Set up two-factor").click()
    key = await page.locator(".totp-key").inner_text()
    await check("35-operator-two-factor")
    await page.get_by_label("Code").fill(pyotp.TOTP(key).now())
    await page.get_by_role("button", name="Turn two-factor on").click()
    await expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    await page.goto(platform.base + "/operator")
    await expect(page.get_by_role("heading", name="Salons")).to_be_visible()
    await expect(page.get_by_role("link", name="Ana's Nails").first).to_be_visible()
    await check("36-operator-console")
    await page.get_by_role("link", name="Ana's Nails").first.click()
    await expect(page.get_by_role("heading", name="Erase")).to_be_visible()
    await check("37-operator-salon")
    await page.goto(platform.base + "/operator")
    await page.get_by_role("link", name="The platform's mail").click()
    await expect(page.get_by_role("heading", name="The platform's mail")).to_be_visible()
    await check("38-operator-mail")
    await page.get_by_role("link", name="salon welcome").first.click()
    await expect(page.locator("pre.mail")).to_contain_text("/signup/confirm/")
    await check("39-operator-mail-message")
    assert not problems, "\n".join(problems)
