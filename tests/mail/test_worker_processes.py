"""`parlour worker` processes sharing one Redis: each message exactly once across instances,
and a worker killed with SIGKILL mid-send duplicates only inside the documented window."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from parlour.config import load_settings
from parlour.services.catalogue import Business
from parlour.services.notices.messages import ProbeMessage, to_json
from parlour.services.outbox.outboxes import Outboxes
from parlour.services.outbox.records import Message, State, new_message
from parlour.services.outbox.store import Outbox
from parlour.storage import Storage

from support.smtp_server import SmtpServer
from support.waiting import eventually, until

pytestmark = [pytest.mark.redis, pytest.mark.fault]


def environment(redis_url: str, smtp: SmtpServer, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "PARLOUR_DATA_BACKEND": "redis",
        "PARLOUR_SMTP_URL": smtp.url,
        "PARLOUR_SECRET_KEY": "k" * 48,
        "PARLOUR_REDIS_TIMEOUT": "3",  # the machine is shared: no flakes from a busy moment
        **extra,
    }


@asynccontextmanager
async def worker_process(
    cwd: Path, env: dict[str, str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    cwd.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a test's own folder, once
    with (cwd / "worker.log").open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "parlour", "worker", cwd=cwd, env=env, stderr=log
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await process.wait()


@asynccontextmanager
async def outbox_on(redis_url: str, tmp_path: Path) -> AsyncIterator[Outbox]:
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path / "test",
        redis_url=redis_url,
        data_backend="redis",
        secret_key="k" * 48,
        redis_timeout=3,
    )
    async with Storage.from_settings(settings) as storage:
        yield Outboxes(storage.kv).of("bookings")


def probe(n: int) -> Message:
    data = to_json(ProbeMessage(Business(name="Willow"), f"test {n}"))
    return new_message("test", [f"client{n}@example.com"], data, now=time.time())


async def test_two_workers_deliver_two_hundred_messages_exactly_once(
    redis_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    env = environment(redis_url, smtp_server)
    async with (
        outbox_on(redis_url, tmp_path) as outbox,
        worker_process(tmp_path / "one", env),
        worker_process(tmp_path / "two", env),
    ):
        gate = asyncio.Semaphore(8)  # as bookings arrive: a few at a time, not 200 at once

        async def enqueue(n: int) -> Message:
            async with gate:
                return await outbox.enqueue(probe(n))

        messages = await asyncio.gather(*(enqueue(n) for n in range(200)))
        await until(lambda: len(smtp_server.received) >= 200, timeout=90, what="200 messages")

        async def all_sent() -> bool:
            states = [await outbox.get(m.id) for m in messages]
            return all(s is not None and s.state is State.SENT for s in states)

        await eventually(all_sent, timeout=30, what="all 200 marked sent")
    counts = Counter(received.message_id for received in smtp_server.received)
    assert len(counts) == 200
    assert max(counts.values()) == 1
    logs = [(tmp_path / name / "worker.log").read_text() for name in ("one", "two")]
    assert all("delivery: sent" in log for log in logs), "both instances delivered"


async def test_a_worker_killed_mid_send_duplicates_only_inside_the_window(
    redis_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    # A short timeout makes a short lease, so the take-over comes within seconds.
    env = environment(redis_url, smtp_server, PARLOUR_SMTP_TIMEOUT="0.5")
    async with outbox_on(redis_url, tmp_path) as outbox:
        release = smtp_server.hold()  # the server takes the message and keeps its answer
        message = await outbox.enqueue(probe(1))
        async with worker_process(tmp_path / "victim", env) as victim:
            await until(lambda: smtp_server.holding, timeout=30, what="the send in flight")
            victim.kill()  # SIGKILL: after the server has the message, before the 250 arrives
            await victim.wait()
        release.set()
        smtp_server.release()
        assert len(smtp_server.received) == 1  # accepted, but the victim never heard the 250
        stored = await outbox.get(message.id)
        assert stored is not None
        assert stored.state is State.PENDING  # never marked: the victim died first
        async with worker_process(tmp_path / "heir", env):
            await until(lambda: len(smtp_server.received) == 2, timeout=60, what="the take-over")

            async def sent() -> bool:
                found = await outbox.get(message.id)
                return found is not None and found.state is State.SENT

            await eventually(sent, timeout=30, what="marked sent by the heir")
    ids = {received.message_id for received in smtp_server.received}
    assert len(ids) == 1  # the same Message-ID: a receiver can tell it is a repeat
    assert len(smtp_server.received) == 2
