"""The storage contract's backends (tests/storage/conftest.py), as a fixture for the suites of
services that must hold on every backend: the outbox and its worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parlour.storage import Backend
from storage.conftest import ALL_BACKENDS, make_backend


@pytest.fixture(params=ALL_BACKENDS)
async def data_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each backend a durable namespace can live on, opened empty."""
    opened = make_backend(request.param, tmp_path, request)
    await opened.open()
    yield opened
    await opened.close()
