"""Messages end to end through `parlour serve` (real processes) and a real SMTP server
(aiosmtpd): a booking's confirmation carries a manage link that opens it and its .ics; a
cancellation is told and its reminder never goes; staff are alerted; and two instances sharing
one store deliver 200 bookings' confirmations exactly once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from parlour.config import load_settings
from parlour.storage import Storage

from support.processes import served
from support.salon import FACIAL, MASSAGE, at, client, furnish, upcoming_weekday
from support.smtp_server import Received, SmtpServer
from support.waiting import until

SECRET = "e" * 48


async def furnished(env: dict[str, str], data_dir: Path) -> None:
    """The test salon written through the same store the servers will use."""
    settings = load_settings(
        env_file=None,
        data_dir=data_dir,
        secret_key=SECRET,
        redis_url=env.get("REDIS_URL"),
        database_url=env.get("DATABASE_URL"),
        data_backend=env.get("PARLOUR_DATA_BACKEND", "sqlite"),
    )
    async with Storage.from_settings(settings) as storage:
        await furnish(storage.kv)


def environment(smtp: SmtpServer, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "PARLOUR_DATA_DIR": str(data_dir),
        "PARLOUR_SMTP_URL": smtp.url,
        "PARLOUR_SECRET_KEY": SECRET,
        "PARLOUR_BOOKING_RATE_LIMIT": "100000/1 hour",
        "PARLOUR_REDIS_TIMEOUT": "3",  # the machine is shared: no flakes from a busy moment
        "PARLOUR_DATABASE_TIMEOUT": "3",
        **extra,
    }


def to(smtp: SmtpServer, address: str, subject: str) -> list[Received]:
    return [
        r
        for r in smtp.received
        if address in r.recipients and str(r.message["Subject"]).startswith(subject)
    ]


def text_of(received: Received) -> str:
    body = received.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def calendar_of(received: Received) -> str:
    (part,) = [p for p in received.message.iter_attachments() if p.get_filename() == "booking.ics"]
    return str(part.get_content())


@pytest.mark.timeout(300)
async def test_a_booking_is_confirmed_and_a_cancelled_ones_reminder_never_goes(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    day = upcoming_weekday(3)
    start = datetime.fromisoformat(at(10, day=day))
    # The reminder falls due about 25 s from now: after the server has started and both bookings
    # are made (a few seconds), soon enough for the test to see it go.
    lead = int(start.timestamp() - time.time() - 25)
    data_dir = tmp_path / "data"
    env = environment(
        smtp_server,
        data_dir,
        PARLOUR_REMINDER_BEFORE=str(lead),
        PARLOUR_STAFF_ALERTS_TO="desk@salon.example",
    )
    await furnished(env, data_dir)
    async with served(tmp_path, env) as base, httpx.AsyncClient(base_url=base) as http:

        async def book(resource: str, n: int) -> dict[str, Any]:
            fields = {"treatment": FACIAL.id, "start": start.isoformat(), "resource": resource}
            response = await http.post("/api/bookings", json={**fields, **client(n)})
            assert response.status_code == 201, response.text
            made: dict[str, Any] = response.json()
            return made

        kept, cancelled = await book("r_ann", 1), await book("r_bob", 2)
        kept_to, cancelled_to = client(1)["email"], client(2)["email"]
        await until(lambda: len(to(smtp_server, kept_to, "Booked")) == 1, timeout=60, what="1")
        (confirmation,) = to(smtp_server, kept_to, "Booked")
        link = kept["manage_url"]
        assert link in text_of(confirmation)
        page = await http.get(link.removeprefix(base))
        assert page.status_code == 200
        assert "Client 1" in page.text  # the link opens this booking
        assert f"URL:{link}" in calendar_of(confirmation)
        assert "until 24 hours before" in text_of(confirmation)  # the policy

        token = cancelled["manage_token"]
        async with httpx.AsyncClient(base_url=base) as api:  # no cookie from the page above
            assert (await api.post(f"/api/bookings/{token}/cancel")).status_code == 200
        await until(
            lambda: len(to(smtp_server, cancelled_to, "Cancelled")) == 1,
            timeout=60,
            what="the cancellation notice",
        )
        (notice,) = to(smtp_server, cancelled_to, "Cancelled")
        assert "STATUS:CANCELLED" in calendar_of(notice)
        await until(
            lambda: len(to(smtp_server, "desk@salon.example", "")) == 3,
            timeout=60,
            what="staff alerts: two new, one cancelled",
        )
        # The kept booking's reminder goes; the cancelled one's, due the same second, never.
        await until(
            lambda: len(to(smtp_server, kept_to, "Reminder")) == 1, timeout=120, what="reminder"
        )
        assert link in text_of(to(smtp_server, kept_to, "Reminder")[0])
    assert to(smtp_server, cancelled_to, "Reminder") == []
    counts = Counter(r.message_id for r in smtp_server.received)
    assert max(counts.values()) == 1


def weekday_slots(count: int) -> Iterator[str]:
    """``count`` distinct massage times (30 minutes, one therapist), weekdays from 3 days on."""
    day: date = upcoming_weekday(3)
    made = 0
    while True:
        for half_hours in range(16):  # 09:00 to 16:30
            yield at(9 + half_hours // 2, 30 * (half_hours % 2), day=day)
            made += 1
            if made == count:
                return
        day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)


def server_logs(folder: Path) -> list[str]:
    return [path.read_text() for path in folder.glob("*/parlour-*.log")]


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("postgres", marks=[pytest.mark.redis, pytest.mark.postgres]),
    ]
)
def shared_store(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """One store two instances share: Redis alone, or PostgreSQL for data beside Redis."""
    env = {"REDIS_URL": redis_url, "PARLOUR_DATA_BACKEND": "redis"}
    if request.param == "postgres":
        env["PARLOUR_DATA_BACKEND"] = "postgres"
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
        upgraded = subprocess.run(
            [sys.executable, "-m", "parlour", "db", "upgrade"],
            env={**os.environ, **env, "PARLOUR_DATA_DIR": str(tmp_path / "data")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert upgraded.returncode == 0, upgraded.stderr
    return env


@pytest.mark.timeout(600)
async def test_two_instances_deliver_two_hundred_confirmations_exactly_once(
    smtp_server: SmtpServer, shared_store: dict[str, str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = environment(smtp_server, data_dir, **shared_store)
    await furnished(env, data_dir)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    async with (
        served(tmp_path / "one", env) as one,
        served(tmp_path / "two", env) as two,
        httpx.AsyncClient(timeout=30) as http,
    ):
        gate = asyncio.Semaphore(8)  # clients arriving a few at a time, on both instances

        async def book(n: int, start: str) -> None:
            async with gate:
                fields = {"treatment": MASSAGE.id, "start": start, **client(n)}
                response = await http.post(f"{(one, two)[n % 2]}/api/bookings", json=fields)
                assert response.status_code == 201, response.text

        await asyncio.gather(*(book(n, s) for n, s in enumerate(weekday_slots(200))))
        await until(lambda: len(smtp_server.received) >= 200, timeout=180, what="200 arrived")
    confirmations = [
        r for r in smtp_server.received if str(r.message["Subject"]).startswith("Booked")
    ]
    assert len(confirmations) == len(smtp_server.received) == 200
    assert Counter(r.recipients for r in confirmations).most_common(1)[0][1] == 1
    assert len({r.message_id for r in confirmations}) == 200
    logs = server_logs(tmp_path)
    assert len(logs) == 2
    assert all("delivery: sent" in log for log in logs), "both instances delivered"
