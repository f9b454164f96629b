"""Fixtures of the real-browser tests: two `parlour serve` instances on one Redis with a small
salon in it (support.salon), and the system's Chromium.

Chromium is launched once per module (each test still gets its own contexts, from
``support.browser.new_page``, and its own record of policy violations); the salon is made anew
for each test, its two servers started side by side, since every journey changes it (books,
cancels, erases, uses up the login limit). So every test of a module runs in the module's event
loop, the one its Chromium lives in (``pytest.mark.asyncio(loop_scope="module")``)."""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest_asyncio
from PIL import Image
from playwright.async_api import Browser, async_playwright

from parlour.config import load_settings
from parlour.services.accounts import AccountService
from parlour.services.bookings.engine import BookingService
from parlour.services.gallery import GalleryService
from parlour.services.notices.messages import ProbeMessage, to_json
from parlour.services.outbox.records import new_message
from parlour.services.outbox.store import Outbox
from parlour.services.reviews import ReviewService
from parlour.storage import Storage

from support.browser import PASSWORD, SECRET, STAFF, Chromium, Site, chromium_path
from support.processes import served
from support.salon import FACIAL, ask, at, client, furnish, past_visit, upcoming_weekday


@pytest_asyncio.fixture(loop_scope="module")
async def site(redis_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    data = tmp_path / "data"
    settings = load_settings(
        env_file=None, data_dir=data, redis_url=redis_url, data_backend="redis", secret_key=SECRET
    )
    day = upcoming_weekday()
    async with Storage.from_settings(settings) as storage:
        catalogue = await furnish(storage.kv, phone="01225 555 0100", address="1 Mill Lane")
        await AccountService(storage.kv("users")).create_user(STAFF, "admin", PASSWORD)
        bookings = BookingService(storage.kv("bookings"), catalogue)
        done, reviewed_token = await past_visit(storage.kv, catalogue)
        await ReviewService(storage.kv("reviews")).submit(done, "5", "Calm, unhurried, lovely.")
        booked = await bookings.book(
            ask(
                {"treatment": FACIAL.id, "start": at(11, day=day), "resource": "r_ann", **client(8)}
            )
        )
        picture = io.BytesIO()
        Image.new("RGB", (640, 480), (196, 140, 120)).save(picture, "PNG")
        photo = await GalleryService(storage.kv("gallery")).upload(picture.getvalue(), "The room")
        probe = to_json(ProbeMessage(await catalogue.business(), "a message held for staff"))
        held = new_message("test", [STAFF], probe, now=time.time())
        await Outbox(storage.kv("bookings")).enqueue(held)
    env = {
        "REDIS_URL": redis_url,
        "PARLOUR_DATA_BACKEND": "redis",
        "PARLOUR_DATA_DIR": str(data),
        "PARLOUR_SECRET_KEY": SECRET,
        "PARLOUR_LOG_LEVEL": "warning",
        "PARLOUR_LOGIN_RATE_LIMIT": "6/15 minutes",
    }
    shots = Path(os.environ.get("PARLOUR_TEST_SCREENSHOTS") or tmp_path / "screenshots")
    await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        async with asyncio.TaskGroup() as starting:  # both at once: half the wait
            first = starting.create_task(stack.enter_async_context(served(tmp_path, env)))
            second = starting.create_task(stack.enter_async_context(served(tmp_path, env)))
        one, two = first.result(), second.result()
        yield Site(
            one,
            two,
            shots,
            day,
            reviewed_booking=done.id,
            reviewed_token=reviewed_token,
            booking=booked.booking.id,
            token=booked.token,
            photo=photo.id,
        )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Browser]:
    """The system's Chromium, launched once for the module's tests."""
    path = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=path,
            args=["--no-sandbox"],  # root in CI has no user namespaces
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def browser(chromium: Browser) -> AsyncIterator[Chromium]:
    """The module's Chromium with this test's own record of policy violations; the contexts
    the test opened are closed after it, so the next test starts from none."""
    before = set(chromium.contexts)
    checked = Chromium(chromium, [])
    yield checked
    stuck = []
    for context in chromium.contexts:
        if context not in before:
            try:
                async with asyncio.timeout(30):  # closes in milliseconds; bounded all the same
                    await context.close()
            except TimeoutError:
                stuck.append(context)
    assert not stuck, f"Chromium did not close {len(stuck)} of this test's contexts"
    assert checked.violations == [], "a page broke its Content-Security-Policy"
