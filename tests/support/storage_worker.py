"""A separate process using the storage layer, driven by tests that need several processes.

    python -m support.storage_worker STORE COMMAND [ARGS]

STORE is what ``backend_for_spec`` takes: ``sqlite:PATH``, a ``redis://`` or ``postgresql://`` URL.

It prints ``ready`` once its backend is open, waits for a line on stdin, then runs COMMAND:
``claim KEY VALUE`` prints whether set_if_absent won; ``set KEY VALUE`` writes once;
``count-up`` writes k0, k1, ... for ever, printing each number once the write is acknowledged.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from pathlib import Path

from parlour.config import load_settings
from parlour.storage import KVStore, backend_for_spec


async def main(store: str, command: str, *args: str) -> None:
    backend = backend_for_spec(store, load_settings(env_file=None, data_dir=Path(".")))
    await backend.open()
    kv = KVStore(backend, "alpha")
    try:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        if command == "claim":
            print(json.dumps(await kv.set_if_absent(args[0], args[1])), flush=True)
        elif command == "set":
            await kv.set_item(args[0], args[1])
            print("done", flush=True)
        elif command == "count-up":
            for n in itertools.count():
                await kv.set_item(f"k{n}", n)
                print(n, flush=True)
    finally:
        await backend.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
