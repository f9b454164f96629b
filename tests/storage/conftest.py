from __future__ import annotations

import pytest

from parlour.storage import Backend, KVStore


@pytest.fixture
def backend(any_backend: Backend) -> Backend:
    """The contract suite runs on every backend: ``support.backends`` lists them."""
    return any_backend


@pytest.fixture
def kv(backend: Backend) -> KVStore:
    return KVStore(backend, "alpha")
