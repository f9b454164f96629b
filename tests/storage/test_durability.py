"""The epoch record storage/durability.py keeps in the data directory."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
