"""The staff client list: a page read from the client index, beside the old derivation from every
booking, in the same run and on the same data.

    python bench/clients.py [--bookings 5000] [--clients 1000] [--backend sqlite|redis]
                            [--rounds 200] [--http] [--before REF]

Seeds the bookings through BookingService (so the namespace holds what it holds in use: records,
5-minute units, day lists, link hashes, and the index's summaries), named "Client <n>" (one
prefix for everyone: the worst case for any index by the first letters of a name), then the
index is forgotten, as on a deployment upgraded from before it. In process, it times:

- the old derivation, what ``/admin/clients`` did on every view: every item of the namespace
  read, the records decoded and grouped (``clients.group``), filtered for a search;
- the index's first read of that data: the one-time build an upgraded deployment pays;
- a page of 50 from the index: the first, one from the middle (after a client), a name
  search, the end of a phone number, an e-mail address; and one client's own page.

Each is p50 and p99 of ``--rounds`` reads (the old derivation: of a tenth as many), and each
page as a ratio of the old derivation's p50. With ``--http`` it also serves the same data with
``parlour serve`` twice, this code and ``--before`` (default: where this branch left main), and
times ``GET /admin/clients`` as a logged-in admin, one request at a time and eight at once.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from booking import QUICK, THERAPISTS, furnish  # type: ignore[import-not-found]
from parlour.config import Settings, load_settings
from parlour.domain.booking import Booking
from parlour.domain.events import Actor
from parlour.domain.schedule import to_utc
from parlour.services.accounts import AccountService
from parlour.services.bookings import commit as booking_commit
from parlour.services.bookings.client_keys import phone_key
from parlour.services.bookings.engine import BookingService
from parlour.services.bookings.keys import is_client_index
from parlour.services.bookings.records import BookRequest
from parlour.services.clients.records import ClientRecords
from parlour.services.clients.service import ClientHistory, ClientService, group
from parlour.services.reviews import ReviewService
from parlour.services.staged import Staged
from parlour.storage import KVStore, Storage
from parlour.storage.base import DELETE

from support.processes import served
from support.redis_server import RedisServer, find_redis_server
from support.web import log_in

PASSWORD = "correct horse battery"


def old_matches(client: ClientHistory, query: str) -> bool:
    """The search the old derivation did: a part of the name, the address or the digits."""
    wanted = query.strip().casefold()
    digits = phone_key(query).lstrip("+")
    return (
        not wanted
        or wanted in client.name.casefold()
        or wanted in client.email.casefold()
        or (len(digits) >= 3 and digits in phone_key(client.phone))
    )


async def timed(run: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    spent = []
    for _ in range(rounds):
        start = time.perf_counter()
        await run()
        spent.append((time.perf_counter() - start) * 1000)
    return spent


def p(spent: list[float], share: float) -> float:
    ordered = sorted(spent)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def seed(storage: Storage, count: int, clients: int, *, accounts: bool = True) -> None:
    catalogue = await furnish(storage)
    service = BookingService(storage.kv("bookings"), catalogue)
    zone = (await catalogue.business()).rules.zone
    first = datetime.now(zone).date() + timedelta(days=1)
    starts = [
        to_utc(first + timedelta(days=day), clock_time(9 + slot // 4, 15 * (slot % 4)), zone)
        for day in range(300)
        for slot in range(32)
    ]
    for n in range(count):
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
    if accounts:
        await AccountService(storage.kv("users")).create_user(
            "admin@example.com", "admin", PASSWORD
        )


async def forget_the_index(store: KVStore) -> int:
    keys = [key for key, _ in (await store.get_all_items()).items() if is_client_index(key)]
    for start in range(0, len(keys), 500):
        await store.transact(dict.fromkeys(keys[start : start + 500], DELETE))
    return len(keys)


async def in_process(storage: Storage, rounds: int) -> list[tuple[str, list[float]]]:
    store = storage.kv("bookings")
    records = ClientRecords(store)
    service = ClientService(records, storage.kv("clients"), ReviewService(storage.kv("reviews")),
                            storage.kv("reviews"))  # fmt: skip

    async def old(query: str) -> list[ClientHistory]:
        return [c for c in group(await records.every_booking()) if old_matches(c, query)]

    everyone = await old("")
    middle = everyone[len(everyone) // 2].id
    figures = [
        ("old derivation, everyone", await timed(lambda: old(""), max(3, rounds // 10))),
        ("old derivation, a search", await timed(lambda: old("0123"), max(3, rounds // 10))),
        ("index, first read (the build)", await timed(lambda: service.page(""), 1)),
    ]
    pages = {
        "index, first page": ("", ""),
        "index, a page from the middle": ("", middle),
        "index, a name ('client 12')": ("client 12", ""),
        "index, a phone's end ('0123')": ("0123", ""),
        "index, an address ('client7@')": ("client7@", ""),
    }
    for label, (query, after) in pages.items():
        figures.append((label, await timed(functools.partial(service.page, query, after), rounds)))
    figures.append(("index, one client's page", await timed(lambda: service.get(middle), rounds)))
    return figures


async def booking_cost(settings_for: Callable[[str], Settings], count: int, rounds: int) -> None:
    """Bookings/s through BookingService with the client index's merges and without them
    (the engine's hook replaced by one that adds nothing), alternating, each on a fresh store."""
    rates: dict[bool, list[float]] = {True: [], False: []}
    engine = vars(booking_commit)  # the commit module's names: its hook is swapped for the run
    indexed_change = engine["client_change"]
    for n in range(rounds):
        for indexed in (True, False):
            engine["client_change"] = indexed_change if indexed else nothing
            try:
                async with Storage.from_settings(settings_for(f"cost-{n}-{indexed}")) as storage:
                    await wipe(storage.kv("bookings"))  # on Redis, one server for every round
                    start = time.perf_counter()
                    await seed(storage, count, count // 5, accounts=False)
                    rates[indexed].append(count / (time.perf_counter() - start))
            finally:
                engine["client_change"] = indexed_change
    with_index, without = (statistics.median(rates[flag]) for flag in (True, False))
    print(
        f"\nbookings in process, {count:,} a round, median of {rounds}: with the index "
        f"{with_index:,.0f}/s, without {without:,.0f}/s: {with_index / without:.2f}x"
    )


def nothing(before: Booking | None, after: Booking | None) -> Staged:
    return Staged()


async def wipe(store: KVStore) -> None:
    keys = list(await store.get_all_items())
    for start in range(0, len(keys), 500):
        await store.transact(dict.fromkeys(keys[start : start + 500], DELETE))


def base_source(ref: str, into: Path) -> Path:
    """``ref``'s src/ (by default, where HEAD left main), unpacked into ``into``."""
    if not ref:
        ref = subprocess.run(
            ["git", "merge-base", "HEAD", "main"], check=True, capture_output=True, text=True
        ).stdout.strip()
    archive = subprocess.run(["git", "archive", ref, "src"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


async def over_http(
    scratch: Path, env: dict[str, str], rounds: int
) -> tuple[int, list[float], list[float]]:
    """Clients on the first page, and milliseconds of GET /admin/clients one at a time and
    eight at once."""
    async with served(scratch, env) as base, httpx.AsyncClient(base_url=base, timeout=60) as web:
        await log_in(web, "admin@example.com", PASSWORD)
        first = await web.get("/admin/clients")  # the new code's build: once, not timed
        assert first.status_code == 200, first.status_code
        alone = await timed(lambda: web.get("/admin/clients"), rounds)
        together: list[float] = []

        async def one() -> None:
            start = time.perf_counter()
            answer = await web.get("/admin/clients")
            assert answer.status_code == 200
            together.append((time.perf_counter() - start) * 1000)

        for _ in range(max(1, rounds // 8)):
            await asyncio.gather(*(one() for _ in range(8)))
    return first.text.count('<td><a href="/admin/clients/'), alone, together


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--backend", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--before", default="", help="git ref of the code to compare over HTTP")
    parser.add_argument("--booking-rounds", type=int, default=3, help="0: skip the booking cost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        redis = None
        env = {"PARLOUR_LOG_LEVEL": "warning"}
        if args.backend == "redis":
            binary = find_redis_server()
            if binary is None:
                sys.exit("redis-server not found: apt install redis-server")
            redis = RedisServer(binary, scratch / "redis").start()
            env |= {"REDIS_URL": redis.url, "PARLOUR_DATA_BACKEND": "redis"}
        try:
            data = scratch / "data"
            env["PARLOUR_DATA_DIR"] = str(data)
            settings = load_settings(
                env_file=None,
                data_dir=data,
                redis_url=env.get("REDIS_URL"),
                data_backend=args.backend,
            )
            async with Storage.from_settings(settings) as storage:
                await seed(storage, args.bookings, args.clients)
                store = storage.kv("bookings")
                forgotten = await forget_the_index(store)
                items = len(await store.get_all_items())
                print(
                    f"{args.bookings:,} bookings of {args.clients:,} clients on {args.backend}: "
                    f"{items:,} items in the bookings namespace ({forgotten:,} index keys "
                    "forgotten, as before an upgrade)"
                )
                figures = await in_process(storage, args.rounds)
                items = len(await store.get_all_items())
                print(f"after the build: {items:,} items\n")
                if args.http:
                    await forget_the_index(store)  # the old code's namespace, as it had it
            report(figures)
            if args.http:
                await http_report(scratch, env, args)
            if args.booking_rounds:

                def fresh(name: str) -> Settings:
                    return load_settings(
                        env_file=None,
                        data_dir=scratch / name,
                        redis_url=env.get("REDIS_URL"),
                        data_backend=args.backend,
                    )

                await booking_cost(fresh, 1000, args.booking_rounds)  # last: it wipes
        finally:
            if redis is not None:
                redis.stop()


def report(figures: list[tuple[str, list[float]]]) -> None:
    old = statistics.median(figures[0][1])
    print(f"{'in process':<34} {'p50 ms':>9} {'p99 ms':>9}  of the old derivation's p50")
    for label, spent in figures:
        median = statistics.median(spent)
        print(f"{label:<34} {median:9.2f} {p(spent, 0.99):9.2f}  {median / old:8.4f}x")


async def http_report(scratch: Path, env: dict[str, str], args: argparse.Namespace) -> None:
    before_src = base_source(args.before, scratch)
    results = {}
    for label, extra in (("before", {"PYTHONPATH": str(before_src)}), ("after", {})):
        results[label] = await over_http(scratch, {**env, **extra}, args.rounds)
    print(f"\nGET /admin/clients over HTTP ({args.rounds} one at a time, then eight at once)")
    for label, (shown, alone, together) in results.items():
        print(
            f"  {label:<7} {shown:>5} clients a page; one at a time p50 "
            f"{statistics.median(alone):8.1f} ms, p99 "
            f"{p(alone, 0.99):8.1f} ms; eight at once p50 {statistics.median(together):8.1f} ms, "
            f"p99 {p(together, 0.99):8.1f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
