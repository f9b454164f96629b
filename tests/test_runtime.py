"""The composition root: what ``async with`` starts and stops, and what ``opened()`` leaves
alone (a command must never start a delivery worker)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from argon2 import PasswordHasher

from parlour.config import load_settings
from parlour.runtime import Runtime


def delivering(runtime: Runtime) -> bool:
    name = f"delivery {runtime.delivery.name}"
    return any(task.get_name() == name and not task.done() for task in asyncio.all_tasks())


async def test_a_serving_runtime_starts_its_worker_and_stops_it(tmp_path: Path) -> None:
    runtime = Runtime.from_settings(load_settings(env_file=None, data_dir=tmp_path))
    assert not delivering(runtime)
    async with runtime:
        assert delivering(runtime)
        assert (await runtime.core.catalogue.business()).name is not None
    assert not delivering(runtime)


async def test_a_command_opens_the_storage_and_starts_nothing(tmp_path: Path) -> None:
    runtime = Runtime.from_settings(load_settings(env_file=None, data_dir=tmp_path))
    async with runtime.opened() as core:
        assert core is runtime.core
        await core.catalogue.business()
        assert not delivering(runtime)


def test_accounts_hash_with_the_hasher_given(tmp_path: Path) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    settings = load_settings(env_file=None, data_dir=tmp_path)
    assert Runtime.from_settings(settings, password_hasher=hasher).core.accounts.hasher is hasher
