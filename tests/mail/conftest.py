from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from parlour.config import load_settings
from parlour.services.outbox.store import Outbox
from parlour.services.ratelimit import Limiter, policies_from
from parlour.storage import KVStore
from parlour.storage.memory import MemoryBackend
from parlour.storage.ratelimit import MemoryRateLimits

from support.backend_fixtures import data_backend
from support.delivery import Clock

__all__ = ["data_backend"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter() -> Limiter:
    """Mail limits small enough to reach: 3 an hour per address, 5 an hour in all."""
    settings = load_settings(
        env_file=None,
        mail_recipient_rate_limit="3/1 hour",
        mail_global_rate_limit="5/1 hour",
    )
    return Limiter(MemoryRateLimits(), policies_from(settings), b"l" * 48)


@pytest.fixture
async def memory_outbox() -> AsyncIterator[Outbox]:
    """For what depends on the worker and the SMTP server, not on the store (the store's part
    runs on every backend in test_delivery.py)."""
    backend = MemoryBackend()
    await backend.open()
    yield Outbox(KVStore(backend, "bookings"))
    await backend.close()
