"""Many bookings at once across several app processes: the race test and bench/race.py share it.

A long day for one room (07:00-20:00, every day) and a 15-minute treatment without buffers,
so that 40 back-to-back starts from 08:00 are 40 different, non-overlapping free slots.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, time, timedelta

import httpx

from parlour.domain.catalogue import Resource, Treatment
from parlour.domain.schedule import Hours, Schedule, to_utc
from parlour.storage.base import KVStore

from support.salon import LONDON, furnish

ROOM = "r_room"
QUICK = Treatment(id="t_quick", name="Quick", duration=15, price=1000, resource_ids=(ROOM,))


async def furnish_long_day(kv: Callable[[str], KVStore]) -> None:
    catalogue = await furnish(kv)
    every_day = Schedule(weekly=((Hours(time(7), time(20)),),) * 7)
    await catalogue.put_resource(Resource(ROOM, "Room", every_day))
    await catalogue.put_treatment(QUICK)


def back_to_back(day: date, count: int) -> list[str]:
    """``count`` starts of QUICK on ``day`` from 08:00, each where the one before ends."""
    first = to_utc(day, time(8), LONDON)
    return [(first + timedelta(minutes=15 * n)).isoformat() for n in range(count)]


async def book_all(bases: Sequence[str], starts: Sequence[str]) -> Counter[int]:
    """POST one booking of QUICK per start, all at once, spread over the instances ``bases``;
    the count of each status answered."""
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as http:

        async def attempt(n: int, start: str) -> int:
            response = await http.post(
                f"{bases[n % len(bases)]}/api/bookings",
                json={
                    "treatment": QUICK.id,
                    "start": start,
                    "name": f"Client {n}",
                    "email": f"race{n}@example.com",
                    "phone": "07700 900123",
                },
            )
            return response.status_code

        return Counter(await asyncio.gather(*(attempt(n, s) for n, s in enumerate(starts))))


def race_env(data_dir: str, secret: str) -> dict[str, str]:
    return {
        "PARLOUR_DATA_DIR": data_dir,
        "PARLOUR_SECRET_KEY": secret,
        "PARLOUR_BOOKING_RATE_LIMIT": "1000/1 minute",
        "PARLOUR_LOG_LEVEL": "warning",
    }
