"""A login flood from many addresses: what it costs the server's memory and the public pages.

    python bench/login_flood.py [--seconds 15] [--logins 200] [--ignore-retry-after]

One `parlour serve` (SQLite, one worker, ``PARLOUR_TRUSTED_PROXIES=127.0.0.1``, a furnished salon).
A probe fetches the landing page one request at a time, first with nothing else running (idle),
then while ``--logins`` clients, in a process of their own, each post a wrong password to /login
over and over. Every attempt names a new address in X-Forwarded-For and a new account, so no
throttle ever refuses one: the worst case for the password hash. A client answered 503 waits
its Retry-After before trying again, as a person or a polite script would; with
``--ignore-retry-after`` it does not, and the flood is one of requests as much as of hashes.

Printed: the server's peak RSS (``VmHWM``) after the idle phase and after the flood, the probe's
median and p99 in both phases and their ratio (the target: p99 within 2x of idle), and how the
logins were answered. The flood's clients run on the same machine, at nice 10 so that they take
the CPU after the server and the probe (an attacker's CPU is not the server's), and the CPU they
used is printed. Run it on older code with
``PYTHONPATH=<its src> python bench/login_flood.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import resource
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from parlour.config import load_settings
from parlour.services.accounts import AccountService
from parlour.storage import Storage

from support.processes import serving
from support.salon import furnish

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
STAFF, PASSWORD = "desk@example.com", "a long staff password"


def peak_rss(pid: int) -> float:
    """The process's peak RSS so far (``VmHWM``), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert found, status
    return int(found[1]) / 1024


async def probe(base: str, seconds: float) -> list[float]:
    """Seconds each GET / took, one after the other, for ``seconds``."""
    took = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            answer = await http.get("/")
            took.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.status_code
    return sorted(took)


async def flood(base: str, logins: int, seconds: float, polite: bool) -> dict[str, int]:
    """``logins`` clients posting wrong passwords for ``seconds``; answers counted by status.
    Each first loads the login form (its CSRF token); "ready" is printed once all have."""
    statuses: collections.Counter[str] = collections.Counter()
    serial = iter(range(10**9))
    tls = ssl.create_default_context()  # one for all: httpx would build one per client
    clients = [httpx.AsyncClient(base_url=base, timeout=120, verify=tls) for _ in range(logins)]

    async def token_of(http: httpx.AsyncClient) -> str:
        found = TOKEN.search((await http.get("/login")).text)
        assert found
        return found[1]

    async def one_client(http: httpx.AsyncClient, token: str) -> None:
        while time.monotonic() < deadline:
            n = next(serial)
            address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
            form = {"email": f"x{n}@example.com", "password": "wrong", "csrf_token": token}
            try:
                answer = await http.post("/login", data=form, headers={"x-forwarded-for": address})
            except httpx.TransportError as exc:
                statuses[type(exc).__name__] += 1
                continue
            statuses[str(answer.status_code)] += 1
            if answer.status_code == 503 and polite:
                await asyncio.sleep(float(answer.headers.get("retry-after", "1")))

    tokens = await asyncio.gather(*(token_of(http) for http in clients))
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(one_client(*pair) for pair in zip(clients, tokens, strict=True)))
    for http in clients:
        await http.aclose()
    return dict(statuses)


def p99(took: list[float]) -> float:
    return took[max(0, round(0.99 * len(took)) - 1)]


def summary(took: list[float]) -> str:
    median, tail = statistics.median(took) * 1000, p99(took) * 1000
    return f"{len(took)} requests, median {median:.1f} ms, p99 {tail:.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="of each phase")
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="idle then flood, this many times")
    parser.add_argument("--ignore-retry-after", action="store_true")
    parser.add_argument("--flood-only", metavar="BASE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    polite = not args.ignore_retry_after
    if args.flood_only:  # the flood's own process, so its clients do not slow the probe's loop
        os.nice(10)  # and behind the server and the probe for the CPU: an attacker's is not ours
        print(json.dumps(await flood(args.flood_only, args.logins, args.seconds, polite)))
        return

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        async with Storage.from_settings(load_settings(env_file=None, data_dir=data)) as storage:
            await furnish(storage.kv)
            await AccountService(storage.kv("users")).create_user(STAFF, "admin", PASSWORD)
        env = {
            "PARLOUR_DATA_DIR": str(data),
            "PARLOUR_LOG_LEVEL": "warning",
            "PARLOUR_TRUSTED_PROXIES": "127.0.0.1",
        }
        async with serving(Path(folder), env) as (base, server):
            await probe(base, 1)  # warm: templates compiled, caches filled
            idle_peak = 0.0
            ratios, answers = [], collections.Counter[str]()
            tails: list[tuple[float, float]] = []
            print(f"{args.logins} clients logging in, each attempt from a new address and account;")
            print(f"   on a 503 they {'wait its Retry-After' if polite else 'try again at once'}")
            for round_ in range(1, args.rounds + 1):
                idle = await probe(base, args.seconds)
                if round_ == 1:
                    idle_peak = peak_rss(server.pid)
                command = [sys.executable, __file__, "--flood-only", base]
                command += ["--seconds", str(args.seconds), "--logins", str(args.logins)]
                command += [] if polite else ["--ignore-retry-after"]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                flooding = await asyncio.create_subprocess_exec(
                    *command, stdout=asyncio.subprocess.PIPE
                )
                assert flooding.stdout is not None
                assert await flooding.stdout.readline() == b"ready\n"
                during = await probe(base, args.seconds)
                output, _ = await flooding.communicate()
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                answers.update(json.loads(output))
                ratios.append(p99(during) / p99(idle))
                tails.append((p99(idle), p99(during)))
                print(f" round {round_}: GET / idle:   {summary(idle)}")
                print(f"          GET / during: {summary(during)}: {ratios[-1]:.2f}x")
                print(f"          (the flood's clients used {used:.1f} s of CPU, set-up included)")
            flood_peak = peak_rss(server.pid)
    print(f"logins answered, all rounds: {dict(answers)}")
    print(f"server peak RSS: idle {idle_peak:.0f} MiB, with the floods {flood_peak:.0f} MiB")
    idle_p99 = statistics.median(idle for idle, _ in tails)
    during_p99 = statistics.median(during for _, during in tails)
    print(
        f"GET / p99 during the flood / idle, median of {args.rounds} rounds: "
        f"{statistics.median(ratios):.2f}x; medians of the p99s: {idle_p99 * 1000:.1f} ms idle, "
        f"{during_p99 * 1000:.1f} ms during, {during_p99 / idle_p99:.2f}x (target: within 2x)"
    )


if __name__ == "__main__":
    asyncio.run(main())
