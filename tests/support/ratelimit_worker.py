"""A process that fires concurrent rate-limit decisions at one Redis.

    python -m support.ratelimit_worker REDIS_URL ATTEMPTS

Prints ``ready`` once connected, waits for a line on stdin, then makes ATTEMPTS concurrent
booking decisions for one e-mail and one IP and prints how many were admitted.
"""

from __future__ import annotations

import asyncio
import sys

from parlour.storage.redis import RedisBackend, RedisRateLimits


async def main(url: str, attempts: str) -> None:
    backend = RedisBackend(url, pool_size=100, timeout=5)
    await backend.open()
    try:
        store = RedisRateLimits(backend)
        await backend.ping()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        verdicts = await asyncio.gather(
            *(store.hit("booking", ["email:same", "ip:same"], 3, 900) for _ in range(int(attempts)))
        )
        print(sum(verdict.allowed for verdict in verdicts), flush=True)
    finally:
        await backend.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
