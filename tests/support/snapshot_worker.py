"""A process holding sessions in a memory backend that saves to a shared snapshot.

    python -m support.snapshot_worker SNAPSHOT NAME COUNT

It loads the snapshot, adds COUNT sessions ``NAME-0`` ... with an hour's TTL, prints ``ready``,
waits for a line on stdin, then closes the backend (which saves) and exits.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from parlour.storage import KVStore
from parlour.storage.memory import MemoryBackend


async def main(snapshot: str, name: str, count: int) -> None:
    backend = MemoryBackend(snapshot=Path(snapshot))
    await backend.open()
    kv = KVStore(backend, "sessions")
    for n in range(count):
        await kv.set_item(f"{name}-{n}", {"user": name, "csrf": "secret"}, ttl=3600)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await backend.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
