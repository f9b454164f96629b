"""The epoch record storage/durability.py keeps in the data directory, and the instances
that share it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from parlour.config import load_settings
from parlour.storage import Storage
from parlour.storage.durability import RECORD, Durability


def test_instances_sharing_a_data_directory_write_the_record_at_once(tmp_path: Path) -> None:
    """Two instances started side by side on one host write the epoch record together: each
    replaces it whole (before, both wrote one temporary name and one rename found it gone)."""
    storage = Storage.from_settings(load_settings(env_file=None, data_dir=tmp_path / "data"))
    writers = [Durability(storage, tmp_path / "shared") for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(50):
            list(pool.map(lambda durability: durability._write_record("epoch"), writers))
    assert (tmp_path / "shared" / RECORD).read_text().startswith("epoch\n")
    assert [p.name for p in (tmp_path / "shared").iterdir()] == [RECORD]


@pytest.mark.redis
async def test_instances_setting_up_a_store_side_by_side_never_judge_it_lost(
    redis_url: str, tmp_path: Path
) -> None:
    """Two instances sharing a data directory, started together on a fresh store: the second
    reads the record just after the first has set the store up (its markers, then the record).
    Before, it had read the markers first (none yet), took the empty namespaces for a loss and
    tombstoned the store: both refused to serve until `parlour accept-store`."""
    settings = load_settings(
        env_file=None, data_dir=tmp_path / "data", redis_url=redis_url, data_backend="redis"
    )
    async with Storage.from_settings(settings) as storage:
        await storage.kv("bookings").set_item("b_1", {"a": "booking"})  # the rest stay empty
        first = Durability(storage, tmp_path / "shared")

        class Second(Durability):
            async def _recorded(self) -> tuple[str | None, frozenset[str]]:
                await first.assess()  # the other instance, just now
                return await super()._recorded()

        assert (await Second(storage, tmp_path / "shared").assess()).problem is None
        assert (await first.assess()).problem is None
