"""The storage vocabulary settings speak: kinds of record, backend names and Redis URL schemes.

Settings name backends as plain words; the list of backends lives in the storage layer
(``parlour.storage.registry``), which checks it, so this package never imports storage.
"""

from __future__ import annotations

BackendName = str
"""A backend's name (memory, sqlite, redis, postgres, ...): plain text here, because the list of
backends lives in the storage layer (``parlour.storage.registry``), which checks it."""
BACKEND_WORD = r"^[a-z][a-z0-9_+-]{0,31}$"
NAMESPACES = (
    "sessions",
    "ratelimit",
    "users",
    "business",
    "treatments",
    "resources",
    "bookings",
    "reviews",
    "gallery",
    "audit",
    "clients",
    "tenants",
)
"""The kinds of record Parlour keeps. Sessions and rate limits follow ``REDIS_URL`` by default;
the rest is durable and moves only when ``PARLOUR_DATA_BACKEND`` says so."""
PLATFORM_NAMESPACES = ("ratelimit", "tenants")
"""Kinds of record of the whole deployment, not of one salon: the salons themselves (``tenants``)
and the rate-limit windows (whose keys name their salon, ``services.ratelimit``)."""

REDIS_SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "redis+sentinel",
    "rediss+sentinel",
    "redis+cluster",
    "rediss+cluster",
)
