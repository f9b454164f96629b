"""Several processes sharing one backend: the single-host and multi-instance promises."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from pathlib import Path

from parlour.storage import Backend, ChangeKind, KVStore
from parlour.storage.sqlite import SQLiteBackend

from support.backends import spec_of
from support.processes import go, start_python_module

WORKER = "support.storage_worker"


def target(backend: Backend) -> list[str]:
    return [spec_of(backend)]


async def test_exactly_one_process_wins_set_if_absent(shared_backend: Backend) -> None:
    workers = [
        await start_python_module(WORKER, *target(shared_backend), "claim", "slot", f"worker-{n}")
        for n in range(8)
    ]
    await asyncio.gather(*(go(worker) for worker in workers))
    outcomes = []
    for worker in workers:
        out, _ = await worker.communicate()
        outcomes.append(json.loads(out))
    assert outcomes.count(True) == 1, outcomes
    winner = outcomes.index(True)
    assert await KVStore(shared_backend, "alpha").get_item("slot") == f"worker-{winner}"


async def test_change_events_cross_processes(shared_backend: Backend) -> None:
    async with KVStore(shared_backend, "alpha").subscribe() as events:
        worker = await start_python_module(WORKER, *target(shared_backend), "set", "from-afar", "1")
        await go(worker)
        await worker.communicate()
        event = await events.next(timeout=10)
    assert event is not None
    assert (event.namespace, event.key, event.kind) == ("alpha", "from-afar", ChangeKind.SET)


async def test_sqlite_keeps_every_acknowledged_write_through_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "parlour.db"
    worker = await start_python_module(WORKER, f"sqlite:{path}", "count-up")
    await go(worker)
    assert worker.stdout is not None
    acknowledged: list[int] = []
    while len(acknowledged) < 300:
        acknowledged.append(int(await worker.stdout.readline()))
    worker.send_signal(signal.SIGKILL)
    rest, _ = await worker.communicate()
    acknowledged += [int(line) for line in rest.split()]
    assert worker.returncode == -signal.SIGKILL

    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()
    reopened = SQLiteBackend(path)
    await reopened.open()
    try:
        stored = await KVStore(reopened, "alpha").get_all_items()
    finally:
        await reopened.close()
    missing = [n for n in acknowledged if stored.get(f"k{n}") != n]
    assert not missing, f"acknowledged writes lost: {missing[:10]}"
