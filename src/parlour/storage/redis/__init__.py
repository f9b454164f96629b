"""The shared backend: Redis through redis.asyncio and hiredis, on one server, Sentinel or Cluster.

The only package that imports redis. One job per module, as in its PostgreSQL sibling:

- :mod:`.backend` -- :class:`RedisBackend`, the storage contract (items, their index, ``transact``,
  ``scan``), composed of the modules below; the key layout is described there.
- :mod:`.gate` -- the connection gate: one client, every command through :meth:`Gate.call` with a
  deadline (a 503 within two socket timeouts of Redis going quiet, a queue that moves is waited
  for), retried once only when repeating it cannot apply it twice, and the one place where
  redis-py's errors become Parlour's (:func:`translate_redis_error`).
- :mod:`.topology` -- where Redis is (one server, Sentinel, Cluster) from one URL, and connecting.
- :mod:`.scripts` -- loading the Lua scripts in ``lua/`` (each write, its index entry and its event
  in one atomic round trip) and the SHA each is run by.
- :mod:`.events` -- change events: pub/sub on ``{prefix}:changes`` with one listener per process,
  and ``RESYNC`` to every subscriber after it reconnects.
- :mod:`.durability` -- ``WAIT`` for a replica after durable writes, and the meta keys and
  questions (epoch marker, write probe, eviction policy) :mod:`parlour.storage.durability` asks.
- :mod:`.metrics` -- this process's connections and the server's ``INFO`` for ``/metrics``.
- :mod:`.ratelimit` -- :class:`RedisRateLimits`, sliding windows in one Lua script per decision.
"""

from __future__ import annotations

from parlour.storage.redis.backend import RedisBackend
from parlour.storage.redis.gate import translate_redis_error
from parlour.storage.redis.ratelimit import RedisRateLimits

__all__ = ["RedisBackend", "RedisRateLimits", "translate_redis_error"]
