"""How long a session ended on one instance is still accepted by another that keeps it in memory.

    python bench/revocation.py [--revocations 200]

Two `parlour serve` processes over one Redis (sessions and data there). For each revocation: log
in on instance one, make two requests on instance two with the same cookie (the second one is
answered from instance two's copy of the session: its store-load counter in /metrics does not
move), then log out on instance one while four clients ask instance two for a staff page without
pause. The delay is how long after the logout's answer instance two still accepted a request
sent to it (0 when every request sent after the answer was refused).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.processes import served
from support.redis_server import RedisServer, find_redis_server

EMAIL, PASSWORD = "bench@example.com", "a password for the bench"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
PARLOUR = (sys.executable, "-m", "parlour")
POLLERS = 4
LOADS = re.compile(r'parlour_session_operation_seconds_count\{operation="load"\} ([\d.e+]+)')


async def loads(client: httpx.AsyncClient) -> float:
    """How many times the instance has read a session from the store."""
    match = LOADS.search((await client.get("/metrics")).text)
    return float(match[1]) if match else 0.0


async def log_in(client: httpx.AsyncClient) -> str:
    token = TOKEN.search((await client.get("/login")).text)
    assert token
    done = await client.post(
        "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token[1]}
    )
    assert done.status_code == 303, done.text
    page = TOKEN.search((await client.get("/admin/account")).text)
    assert page
    return page[1]


async def one_revocation(
    one: httpx.AsyncClient, two: httpx.AsyncClient
) -> tuple[float, float, bool]:
    """(how long after the logout's answer two still accepted a request sent to it, the same
    from the moment the logout was sent, whether two answered from memory before the logout)."""
    one.cookies.clear()
    token = await log_in(one)
    cookie = {"cookie": f"parlour_session={one.cookies['parlour_session']}"}
    assert (await two.get("/admin", headers=cookie)).status_code == 200  # from Redis
    before = await loads(two)
    assert (await two.get("/admin", headers=cookie)).status_code == 200  # from memory
    from_memory = await loads(two) == before
    answered: list[float] = []  # when the logout's answer came (empty: not yet)
    accepted: list[float] = []  # when each request two accepted was sent
    refused_after = asyncio.Event()

    async def poll() -> None:
        while not refused_after.is_set():
            sent = time.perf_counter()
            status = (await two.get("/admin", headers=cookie)).status_code
            if status == 200:
                accepted.append(sent)
            elif answered and sent > answered[0]:
                refused_after.set()

    pollers = [asyncio.create_task(poll()) for _ in range(POLLERS)]
    await asyncio.sleep(0.005)  # the pollers are under way
    sent_logout = time.perf_counter()
    out = await one.post("/logout", data={"csrf_token": token})
    answered.append(time.perf_counter())
    assert out.status_code == 303, out.text
    await asyncio.gather(*pollers)
    late = [sent - answered[0] for sent in accepted if sent > answered[0]]
    window = max(accepted, default=sent_logout) - sent_logout
    return max(late, default=0.0), max(window, 0.0), from_memory


def create_user(env: dict[str, str], data_dir: Path) -> None:
    subprocess.run(
        [*PARLOUR, "create-user", "--role", "staff", "--password-stdin", "--email", EMAIL],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
        env={**os.environ, **env, "PARLOUR_DATA_DIR": str(data_dir)},
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revocations", type=int, default=200)
    args = parser.parse_args()
    binary = find_redis_server()
    if binary is None:
        sys.exit("redis-server not found: install it")
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        server = RedisServer(binary, scratch / "redis").start()
        try:
            env = {
                "REDIS_URL": server.url,
                "PARLOUR_DATA_BACKEND": "redis",
                "PARLOUR_SECRET_KEY": "one secret for both instances of the bench",
                "PARLOUR_LOG_LEVEL": "warning",
                "PARLOUR_LOGIN_RATE_LIMIT": "1000000/1 minute",
                "PARLOUR_LOGIN_ACCOUNT_RATE_LIMIT": "1000000/1 minute",
            }
            for name in ("one", "two"):
                (scratch / name).mkdir()
            create_user(env, scratch / "one")
            async with (
                served(scratch / "one", {**env, "PARLOUR_DATA_DIR": str(scratch / "one")}) as a,
                served(scratch / "two", {**env, "PARLOUR_DATA_DIR": str(scratch / "two")}) as b,
                httpx.AsyncClient(base_url=a, timeout=10) as one,
                httpx.AsyncClient(base_url=b, timeout=10) as two,
            ):
                results = [await one_revocation(one, two) for _ in range(args.revocations)]
        finally:
            server.stop()
    delays = sorted(delay for delay, _, _ in results)
    windows = sorted(window for _, window, _ in results)
    cached = sum(from_memory for _, _, from_memory in results)
    print(
        f"{len(delays)} logouts on instance one; instance two had the session in memory "
        f"before {cached} of them"
    )
    print(
        f"   accepted by instance two after the logout's answer: {summary(delays)}"
        " (target p99 < 50 ms)"
    )
    print(f"   the same from the moment the logout was sent:     {summary(windows)}")


def summary(values: list[float]) -> str:
    p99 = values[max(0, round(0.99 * len(values)) - 1)]
    return (
        f"median {statistics.median(values) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {values[-1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
