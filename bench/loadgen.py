"""wrk, run and read the same way by every HTTP benchmark here.

wrk is C and one thread serves its 32 connections; to show that it was not what limited a
figure, each run also notes the CPU wrk itself used over the run (from ``getrusage`` of the
finished child): a share well under one core means wrk spent the run waiting for the server.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONNECTIONS = 32
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass(frozen=True)
class Run:
    rate: float
    """Answers per second that were 2xx or 3xx."""
    p99: float
    """Seconds."""
    cpu: float
    """Cores' worth of CPU wrk used over the run."""
    errors: int


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt install wrk")


def wrk(
    url: str,
    seconds: float,
    *,
    headers: dict[str, str] | None = None,
    script: str | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """``wrk -t1 -c32 --latency`` against ``url`` (a slow answer counts, up to 10 s, instead of
    being dropped at wrk's 2 s); ``script`` names a Lua file in bench/."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", str(HERE / script)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    assert total, output
    assert p99, output
    if socket_errors and re.search(r"(read|write|timeout) [1-9]", socket_errors[1]):
        print(f"   (wrk reported socket errors on {url}: {socket_errors[1]})")
    elapsed = float(total[2]) * _UNITS[total[3]]
    failed = int(errors[1]) if errors else 0
    return Run(
        rate=(int(total[1]) - failed) / elapsed,
        p99=float(p99[1]) * _UNITS[p99[2]],
        cpu=used / seconds,
        errors=failed,
    )
