from __future__ import annotations

from support.backend_fixtures import data_backend

__all__ = ["data_backend"]
