from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from parlour.services.outbox import Outbox
from parlour.storage import KVStore
from parlour.storage.memory import MemoryBackend

from support.backend_fixtures import data_backend
from support.delivery import Clock

__all__ = ["data_backend"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def memory_outbox() -> AsyncIterator[Outbox]:
    """For what depends on the worker and the SMTP server, not on the store (the store's part
    runs on every backend in test_delivery.py)."""
    backend = MemoryBackend()
    await backend.open()
    yield Outbox(KVStore(backend, "bookings"))
    await backend.close()
