"""Redis high availability: kill a master under load; the app recovers by itself.

Each test starts its own processes (Sentinel: a master, a replica and three sentinels; Cluster:
three masters with a replica each), writes steadily from eight writers, SIGKILLs the master that
holds the data, and waits for writes to succeed again without reopening anything. How long the
writes failed is measured by ``bench/failover.py``, not asserted here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from parlour.storage import KVStore
from parlour.storage.events import ChangeKind
from parlour.storage.redis import RedisBackend

from support.failover import Run, kill_under_load, lost_writes
from support.redis_topologies import Cluster, SentinelGroup
from support.waiting import eventually

pytestmark = pytest.mark.redis


@pytest.fixture
def sentinels(redis_binary: str, tmp_path: Path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(redis_binary, tmp_path / "sentinel").start()
    yield group
    group.stop()


@pytest.fixture
def cluster(redis_binary: str, tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(redis_binary, tmp_path / "cluster", masters=3, replicas=1).start()
    yield started
    started.stop()


@pytest.fixture
async def sentinel_backend(sentinels: SentinelGroup) -> AsyncIterator[RedisBackend]:
    backend = RedisBackend(sentinels.url, timeout=0.25)
    await backend.open()
    yield backend
    await backend.close()


async def test_a_sentinel_failover_needs_no_restart(
    sentinels: SentinelGroup, sentinel_backend: RedisBackend
) -> None:
    kv = KVStore(sentinel_backend, "failover")
    first_master = sentinels.current_master()
    async with kv.subscribe() as events:
        run = await kill_under_load(kv, first_master.stop)
        assert run.failures, "killing the master went unnoticed: the test did not test"
        assert run.errors == {"StorageUnavailable"}  # a clear 503, nothing else
        assert run.recovered  # without reopening anything

        # The client follows whichever sentinel knows first; the one asked here learns the new
        # configuration from the others' hello messages, up to two seconds later.
        async def sentinel_names_a_new_master() -> bool:
            return sentinels.master_port() != first_master.port

        await eventually(sentinel_names_a_new_master, what="the sentinels naming the new master")
        # The event feed came back on the new master and said that events may have been lost.
        kinds: set[ChangeKind] = set()

        async def told_to_resync() -> bool:
            event = await events.next(timeout=0.1)
            if event is not None:
                kinds.add(event.kind)
            return ChangeKind.RESYNC in kinds

        await eventually(told_to_resync, what="a RESYNC after the failover")
    await assert_nothing_lost_since_recovery(kv, run)


async def assert_nothing_lost_since_recovery(kv: KVStore, run: Run) -> None:
    """Asynchronous replication may lose what the dead master had not yet sent on (see
    docs/deployment.md); everything acknowledged by the new master must be there."""
    lost = await lost_writes(kv, run)
    assert not [key for key in lost if run.acknowledged_at[key] > run.recovered_at]


async def test_a_cluster_master_failover_needs_no_restart(cluster: Cluster) -> None:
    backend = RedisBackend(cluster.url, timeout=0.25)
    await backend.open()
    try:
        kv = KVStore(backend, "failover")
        victim = cluster.master_of("failover")
        run = await kill_under_load(kv, victim.stop)
        assert run.failures, "killing the master went unnoticed: the test did not test"
        assert run.errors == {"StorageUnavailable"}
        assert run.recovered  # without reopening anything
        await assert_nothing_lost_since_recovery(kv, run)
    finally:
        await backend.close()
