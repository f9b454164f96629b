"""Requests per second of a session-authenticated page over real HTTP: Parlour with sessions in
memory, in Redis and in PostgreSQL, next to Starlette with starsessions' RedisStore (rolling
expiry) on the same Redis, in the same run; and Parlour on Redis without its security-header
middleware, to price it. Also the bytes one logged-in session takes in Redis (MEMORY USAGE).

    pip install -e '.[bench]' && apt install wrk && python bench/sessions.py [--seconds 3]

Each app runs in its own uvicorn process (one worker) and answers GET /me to a logged-in user
with their e-mail address read from the session (bench/session_apps.py): the session handling is
all that differs. Load comes from wrk (C, one thread, 32 connections) in interleaved rounds.
Each server's GET /healthz, in the same rounds, is the ceiling every figure is also a share of;
wrk's own CPU use is printed to show it was not the bottleneck.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.loadgen import require_wrk, wrk

from parlour.services.sessions import storage_key

from support.postgres_server import PostgresServer, find_postgres_bin
from support.redis_server import RedisServer, find_redis_server, free_port

HERE = Path(__file__).resolve().parent
PAGES = {
    "/admin": "the staff landing page (a template, the same one in every app)",
    "/me": "a page that only reads who is logged in",
    "/healthz": "the ceiling: a page that reads no session, on the same server",
}
TARGETS = {
    "/admin": {"memory": 0.9},
    "/me": {"memory": 0.85, "peer": 1.8},
}
PASSWORD = "a password for the bench"
EMAIL = "bench@example.com"


@contextmanager
def serve(factory: str, env: dict[str, str]):  # type: ignore[no-untyped-def]
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"session_apps:{factory}",
        "--app-dir",
        str(HERE),
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with subprocess.Popen(command, env={**os.environ, **env}) as process:
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{base}/", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.05)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)


def parlour_cookie(base: str, data_dir: str) -> str:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "parlour",
            "create-user",
            "--email",
            EMAIL,
            "--role",
            "staff",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
        env={**os.environ, "PARLOUR_DATA_DIR": data_dir},
    )
    with httpx.Client(base_url=base) as client:
        page = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token[1]})
        return f"parlour_session={client.cookies['parlour_session']}"


def measure(url: str, cookie: str, seconds: float) -> float:
    run = wrk(url, seconds, headers={"Cookie": cookie})
    if run.errors:
        raise AssertionError(f"{url} answered {run.errors} errors")
    WRK_CPU.append(run.cpu)
    return run.rate


WRK_CPU: list[float] = []
"""Per wrk run, the cores' worth of CPU it used: well under 1 means the load generator was
waiting for the server, not the other way round."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    require_wrk()
    binary = find_redis_server()
    if binary is None:
        sys.exit("redis-server not found: install it")
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        server = RedisServer(binary, Path(scratch) / "redis").start()
        stack.callback(server.stop)
        postgres_bin = find_postgres_bin()
        if postgres_bin is None:
            sys.exit("PostgreSQL not found: apt install postgresql")
        postgres = PostgresServer(postgres_bin).start()  # fsync on, as in production
        stack.callback(postgres.destroy)
        env = {"BENCH_REDIS_URL": server.url, "BENCH_DATABASE_URL": postgres.fresh_database()}
        cookies, bases = {}, {}
        parlours = [
            ("memory", "parlour_memory"),
            ("redis", "parlour_redis"),
            ("bare", "parlour_redis_without_security_headers"),
            ("postgres", "parlour_postgres"),
        ]
        for name, factory in parlours:
            data_dir = str(Path(scratch) / name)
            base = stack.enter_context(serve(factory, {**env, "BENCH_DATA_DIR": data_dir}))
            bases[name], cookies[name] = base, parlour_cookie(base, data_dir)
        bases["peer"] = stack.enter_context(serve("starsessions_redis", env))
        with httpx.Client(base_url=bases["peer"]) as client:
            client.get("/login")
            cookies["peer"] = f"session={client.cookies['session']}"

        labels = {
            "memory": "Parlour, sessions in memory",
            "redis": "Parlour, sessions in Redis",
            "bare": "  the same without security headers",
            "postgres": "Parlour, sessions in PostgreSQL",
            "peer": "starsessions RedisStore, rolling",
        }
        runs: dict[tuple[str, str], list[float]] = {
            (page, name): [] for page in PAGES for name in labels
        }
        for _ in range(args.rounds):  # interleaved: a slow spell of the machine hits all alike
            for (page, name), measured in runs.items():
                measured.append(measure(bases[name] + page, cookies[name], args.seconds))
        with server.client() as client:
            session_id = cookies["redis"].split("=", 1)[1]
            session_bytes = client.memory_usage(f"parlour:{{sessions}}:v:{storage_key(session_id)}")
            index = next(iter(client.scan_iter(match="parlour:{sessions}:v:user:*")))
            index_bytes = client.memory_usage(index)

    result = {key: statistics.median(values) for key, values in runs.items()}
    print(
        f"requests per second over HTTP (uvicorn, 1 worker; wrk, 32 connections), "
        f"median of {args.rounds} rounds of {args.seconds:g} s; (x) = share of the same "
        "server's /healthz in the same run"
    )
    for page, what in PAGES.items():
        print(f"\n {page}: {what}")
        for name, label in labels.items():
            rate, ceiling = result[page, name], result["/healthz", name]
            print(f"   {label:<36} {rate:>8,.0f}/s  ({rate / ceiling:.2f}x of /healthz)")
        redis_rate = result[page, "redis"]
        for peer, caption in [
            ("memory", "Redis-backed / memory-backed:        "),
            ("peer", "Redis-backed / starsessions on Redis:"),
            ("bare", "with / without security headers:     "),
        ]:
            target = TARGETS.get(page, {}).get(peer)
            note = f" (target >= {target}x)" if target else ""
            print(f"   {caption} {redis_rate / result[page, peer]:.2f}x{note}")
        print(
            f"   PostgreSQL-backed / Redis-backed:     {result[page, 'postgres'] / redis_rate:.2f}x"
        )
    print(
        f"\n   wrk's own CPU: at most {max(WRK_CPU):.2f} of a core (median "
        f"{statistics.median(WRK_CPU):.2f}) while the server, on the other core, was the limit"
    )
    print(
        f"\n   one logged-in session in Redis: {session_bytes} bytes"
        f" (+ {index_bytes} bytes for its user's index of sessions)"
    )


if __name__ == "__main__":
    main()
