"""The PostgreSQL schema, versioned: each migration is applied once, in order, by
``parlour db upgrade`` (or on first use of an empty database).

Version 1:

- ``parlour_kv``: one row per item under the primary key ``(namespace, key)``. A unit claim is a
  row, so even a bug above the storage layer cannot store two claims of one unit. Keys are
  ``bytea`` (UTF-8) because a key may hold NUL, which ``text`` refuses; values are JSON text.
  ``expires_at`` is honoured by every read; a partial index finds expired rows for reclaim.
- ``parlour_ratelimit``: one row per identity of a policy, holding the times and names of its
  admitted hits (at most ``limit`` of them), like the sorted set on Redis.
- ``parlour_transact()`` and ``parlour_ratelimit_hit()``: the two multi-row atomic steps as
  server-side functions (``postgres_sql/*.sql``), so each costs one round trip, as the Lua
  scripts do on Redis.

Version 2 (many salons): ``parlour_kv.salon``, the salon of the row's namespace, and row-level
security forced on ``parlour_kv``: a statement sees and writes only the rows of the salon that
``parlour.salon`` names (set for each statement on a salon's rows: ``storage/postgres.py``).
"""

from __future__ import annotations

from importlib.resources import files

SCHEMA_TABLE = "parlour_schema"
"""One row: the version of the schema this database holds."""

UPGRADE_LOCK = 0x7061726C6F7572  # "parlour": serialises concurrent `parlour db upgrade` runs


def _sql(name: str) -> str:
    return files("parlour.storage").joinpath("postgres_sql", f"{name}.sql").read_text("utf-8")


def migrations() -> list[tuple[int, str]]:
    """``(version, SQL)`` in order. Never edit a released one: add the next."""
    return [
        (1, _sql("v1_tables") + "\n" + _sql("transact") + "\n" + _sql("ratelimit")),
        (2, _sql("v2_salons")),
    ]


LATEST = 2
"""The schema version this Parlour needs (the last of :func:`migrations`)."""
