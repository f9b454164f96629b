"""The staff client list: what deriving clients from every booking costs, on the SQLite default.

    python bench/clients.py [--bookings 3000] [--clients 600]

Seeds the bookings through BookingService (so the namespace holds what it holds in use: records,
5-minute units, day lists, link hashes), then times, in the same run:

- the ceiling: one ``get_all_items()`` of the bookings namespace (the read the list must do);
- ``ClientService.search("")`` (that read, decoding the records and grouping them by client);
- ``ClientService.search("0123")`` (the same, filtered by a phone-number fragment).

Prints milliseconds (median of 5) and each as a ratio of the ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booking import QUICK, THERAPISTS, furnish  # type: ignore[import-not-found]
from parlour.config import load_settings
from parlour.domain.events import Actor
from parlour.domain.schedule import to_utc
from parlour.services.bookings import BookingService, BookRequest
from parlour.services.client_records import ClientRecords
from parlour.services.clients import ClientService
from parlour.services.reviews import ReviewService
from parlour.storage import Storage


async def timed(run: Callable[[], Awaitable[object]], rounds: int = 5) -> float:
    spent = []
    for _ in range(rounds):
        start = time.perf_counter()
        await run()
        spent.append((time.perf_counter() - start) * 1000)
    return statistics.median(spent)


async def main(bookings: int, clients: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        settings = load_settings(env_file=None, data_dir=Path(data))
        async with Storage.from_settings(settings) as storage:
            catalogue = await furnish(storage)
            service = BookingService(storage.kv("bookings"), catalogue)
            zone = (await catalogue.business()).rules.zone
            first = datetime.now(zone).date() + timedelta(days=1)
            starts = [
                to_utc(
                    first + timedelta(days=day), clock_time(9 + slot // 4, 15 * (slot % 4)), zone
                )
                for day in range(300)
                for slot in range(32)
            ]
            for n in range(bookings):
                person = n % clients
                fields = {
                    "treatment": QUICK.id,
                    "start": starts[n // len(THERAPISTS)].isoformat(),
                    "resource": THERAPISTS[n % len(THERAPISTS)],
                    "name": f"Client {person}",
                    "email": f"client{person}@example.com",
                    "phone": f"07700 9{person:05d}",
                }
                await service.book(BookRequest.from_fields(fields, by=Actor.STAFF))
            store = storage.kv("bookings")
            listing = ClientService(
                ClientRecords(store), storage.kv("clients"), ReviewService(storage.kv("reviews")),
                storage.kv("reviews"),
            )  # fmt: skip
            items = len(await store.get_all_items())
            ceiling = await timed(store.get_all_items)
            everyone = await timed(lambda: listing.search(""))
            some = await timed(lambda: listing.search("0123"))
            again = await timed(lambda: listing.search(""))  # load on a shared machine drifts
    print(f"{bookings} bookings of {clients} clients: {items} items in the bookings namespace")
    print(f"ceiling, get_all_items(): {ceiling:8.1f} ms  1.00x")
    print(f"client list, everyone:    {everyone:8.1f} ms  {everyone / ceiling:.2f}x")
    print(f"client list, a search:    {some:8.1f} ms  {some / ceiling:.2f}x")
    print(f"client list, everyone:    {again:8.1f} ms  {again / ceiling:.2f}x (again)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bookings", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=600)
    args = parser.parse_args()
    asyncio.run(main(args.bookings, args.clients))
