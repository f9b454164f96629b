"""The storage contract's backends (support.backends), as the fixture name the suites of
services that must hold on every backend use: the outbox and its worker."""

from __future__ import annotations

import pytest

from parlour.storage import Backend


@pytest.fixture
def data_backend(any_backend: Backend) -> Backend:
    """Each backend a durable namespace can live on, opened empty."""
    return any_backend
