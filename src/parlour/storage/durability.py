"""Refuse to serve durable data from a Redis that lost it, or that may evict it.

When bookings and the catalogue live on Redis (``PARLOUR_DATA_BACKEND=redis``), an emptied
Redis (restarted without persistence, flushed, a failover to an empty replica) looks exactly like
a salon with nothing booked: every slot is free and gets sold again. And under an evicting
``maxmemory-policy`` Redis drops keys when full, booking claims included. Readiness must say so,
and the app must stop taking bookings rather than carry on.

How "this store was set up" is remembered, so that a fresh install is not taken for a loss:

- An *epoch*, a random id, is written at set-up into each durable namespace's own hash slot
  (``{prefix}:{namespace}:epoch``; in a Cluster, on the master that holds that namespace), and
  recorded by each instance in ``PARLOUR_DATA_DIR/redis-epoch``. The record is what survives
  when Redis forgets: a loss is a Redis without the marker, and without the namespace's items,
  seen by an instance that recorded an epoch.
- A fresh install is a Redis without markers seen by an instance without a record: it writes
  a new epoch (``SET NX``: one winner among instances starting together). An instance that joins
  later (no record, markers present) records the epoch it finds. So does one that meets a store
  filled without markers (a deployment from before epochs; ``parlour migrate`` or ``import``
  into a new Redis) while it has no record.
- Any namespace without its marker and without items, seen by an instance with a record, is a
  loss, even when others still hold theirs: one master of a Cluster restarted empty. Items
  without a marker do not excuse it, since the app itself may have written a booking into the
  emptied store in the second before it noticed. An instance with a record pointed at a new,
  migrated Redis therefore refuses it until ``parlour accept-store``: a deliberate act asks for
  one more.
- The record also lists the namespaces it saw marked. A durable namespace that a newer version
  adds (``audit`` was one) is not in it: its missing marker is written, never judged a loss, so
  an upgrade does not stop a healthy deployment.
- On a loss the instance writes a tombstone (``lost:<epoch>``) in place of the markers, so an
  instance started afterwards with an empty data directory does not take the empty store for a
  fresh install; every instance then refuses to serve (503, with the reason on ``/readyz`` and in
  the log), and recovers only by an explicit act: restore a backup (``parlour import FILE``) and
  run ``parlour accept-store``, or run ``parlour accept-store`` to start again from what Redis
  holds. It writes a new epoch, which the other instances adopt.
- Limits: an instance started with an empty data directory during the second between a loss and
  its detection by a running instance sets the store up anew; and instances whose data directory
  is not kept (a container without a volume) always look fresh. Keep ``PARLOUR_DATA_DIR`` (which
  also holds the generated secret key) on persistent storage.

In dual-write migration mode the namespaces that move are not judged: the copy is in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from parlour.config import NAMESPACES
from parlour.errors import StorageError
from parlour.storage import Storage
from parlour.storage.redis import RedisBackend

log = logging.getLogger(__name__)

DURABLE = tuple(ns for ns in NAMESPACES if ns not in ("sessions", "ratelimit"))
EPOCH = "epoch"
TOMBSTONE = "lost:"
SAFE_POLICY = "noeviction"
RECORD = "redis-epoch"


@dataclass(frozen=True, slots=True)
class Verdict:
    problem: str | None = None
    """Why the app must not serve (durable data lost, or at risk of eviction)."""
    warning: str | None = None
    """What an operator should fix, while serving goes on."""


class Durability:
    """Judges the Redis backend of this process; :attr:`verdict` is the latest judgement."""

    def __init__(
        self, storage: Storage, data_dir: Path, *, on_change: Callable[[], None] | None = None
    ) -> None:
        self._on_change = on_change
        """Called when the verdict changes: what this process copied from the store (its
        caches) is no longer what the store holds. A FLUSHALL sends no change event."""
        self._record = data_dir / RECORD
        self._redis = next(
            (b for b in storage.backends.values() if isinstance(b, RedisBackend)), None
        )
        self._durable = [ns for ns in DURABLE if storage.backend_for(ns) is self._redis]
        self._probed = [ns for ns in NAMESPACES if storage.backend_for(ns) is self._redis]
        self.verdict = Verdict()
        self._watcher: asyncio.Task[None] | None = None

    @property
    def judged(self) -> bool:
        """Whether there is a Redis backend to judge at all."""
        return self._redis is not None

    async def probe_write(self) -> None:
        """Raises ``StorageUnavailable`` when Redis does not take writes."""
        if self._redis is not None:
            await self._redis.probe_write(self._probed)

    async def assess(self, *, repair: bool = True) -> Verdict:
        """Check the policy and the epoch. With ``repair`` (the app), write markers where they
        belong and a tombstone on a loss; without (``parlour check``), only look. Raises
        ``StorageError`` when Redis does not answer."""
        redis = self._redis
        if redis is None:
            return Verdict()
        policies = await redis.memory_policies()
        evicting = sorted(p for p in policies if p != SAFE_POLICY)
        if evicting and self._durable:
            return self._set(
                Verdict(
                    problem=f"Redis at {redis.where} has maxmemory-policy {evicting[0]}: when "
                    "full it evicts keys, and Parlour keeps bookings and the catalogue there "
                    "(PARLOUR_DATA_BACKEND=redis), so an evicted booking's time would be sold "
                    "again. Set maxmemory-policy noeviction (redis.conf, or CONFIG SET "
                    "maxmemory-policy noeviction); Parlour serves again once it is."
                ),
                repair,
            )
        warning = None
        if evicting:
            warning = (
                f"Redis at {redis.where} has maxmemory-policy {evicting[0]}: when full it "
                "evicts sessions (logging people out at random) and rate-limit windows; "
                "set maxmemory-policy noeviction"
            )
        problem = await self._epoch(redis, repair) if self._durable else None
        return self._set(Verdict(problem=problem, warning=warning), repair)

    def _set(self, verdict: Verdict, repair: bool) -> Verdict:
        if repair and verdict != self.verdict:
            if verdict.problem:
                log.error("refusing to serve: %s", verdict.problem)
            elif verdict.warning:
                log.warning("%s", verdict.warning)
            elif self.verdict.problem:
                log.warning("serving again: %s", "Redis holds the data this instance served")
            if self._on_change is not None and (verdict.problem or self.verdict.problem):
                self._on_change()
            self.verdict = verdict
        return verdict

    async def _epoch(self, redis: RedisBackend, repair: bool) -> str | None:
        # The record first, then the markers: an instance writes its markers before its record,
        # so a record read here has its markers in what is read next. Read the other way round,
        # an instance sharing this data directory could set up the store between the two reads
        # (markers not seen, record seen): an empty namespace of a fresh install was judged
        # lost, and both instances refused to serve until `parlour accept-store`.
        recorded, known = await self._recorded()
        marks = dict(
            zip(
                self._durable,
                await asyncio.gather(*(redis.get_meta(ns, EPOCH) for ns in self._durable)),
                strict=True,
            )
        )
        lost = next((m for m in marks.values() if m and m.startswith(TOMBSTONE)), None)
        if lost:
            return self._lost_message(redis, lost.removeprefix(TOMBSTONE))
        missing = [ns for ns, mark in marks.items() if mark is None]
        judged = [ns for ns in missing if ns in known]  # new namespaces are marked, not judged
        held = await asyncio.gather(*(redis.holds_items(ns) for ns in judged))
        emptied = [ns for ns, items in zip(judged, held, strict=True) if not items]
        if recorded and emptied:
            if repair:
                tombstone = f"{TOMBSTONE}{recorded}"
                await asyncio.gather(
                    *(redis.set_meta(ns, EPOCH, tombstone, if_absent=False) for ns in marks)
                )
            return self._lost_message(redis, recorded)
        found = [mark for mark in marks.values() if mark]
        epoch = recorded if recorded in found else (found[0] if found else None)
        if not repair:
            return None
        epoch = epoch or recorded or secrets.token_hex(8)
        for namespace in missing:
            await redis.set_meta(namespace, EPOCH, epoch, if_absent=True)
        if epoch != recorded or set(self._durable) - known:
            if recorded and epoch != recorded:
                log.warning("Redis was set up again as epoch %s (was %s): adopted", epoch, recorded)
            await asyncio.to_thread(self._write_record, epoch)
        return None

    @staticmethod
    def _lost_message(redis: RedisBackend, epoch: str) -> str:
        return (
            f"the bookings and catalogue on Redis at {redis.where} are gone (this deployment "
            f"was set up as epoch {epoch}; Redis restarted empty, was flushed, or is another "
            "server). Parlour will not serve an empty store, where every booked time looks "
            "free. Restore a backup with `parlour import FILE` and run `parlour accept-store`, "
            "or run `parlour accept-store` to start again from what Redis holds now."
        )

    async def accept(self) -> str:
        """Take what Redis holds now as the data to serve: a new epoch everywhere, recorded
        here; the other instances adopt it at their next check."""
        redis = self._redis
        if redis is None or not self._durable:
            raise StorageError("no durable data is kept on Redis here: nothing to accept")
        epoch = secrets.token_hex(8)
        await asyncio.gather(
            *(redis.set_meta(ns, EPOCH, epoch, if_absent=False) for ns in self._durable)
        )
        await asyncio.to_thread(self._write_record, epoch)
        return epoch

    async def _recorded(self) -> tuple[str | None, frozenset[str]]:
        return await asyncio.to_thread(self._read_record)

    def _read_record(self) -> tuple[str | None, frozenset[str]]:
        """The epoch this instance served, and the namespaces it saw marked (the first line is
        the epoch, the second the namespaces)."""
        try:
            lines = self._record.read_text().splitlines()
        except FileNotFoundError:
            return None, frozenset()
        epoch = lines[0].strip() if lines else ""
        known = frozenset(lines[1].split()) if len(lines) > 1 else frozenset(self._durable)
        return epoch or None, known

    def _write_record(self, epoch: str) -> None:
        self._record.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own per write: instances sharing a data directory (two started side by
        # side on one host) each replace the record whole, and none renames another's half.
        partial = self._record.with_name(f"{RECORD}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        partial.write_text(f"{epoch}\n{' '.join(sorted(self._durable))}\n")
        os.replace(partial, self._record)

    # -- in the app -----------------------------------------------------------------------------

    async def start(self, interval: float = 1.0) -> None:
        """Judge now and then every ``interval`` seconds, so a Redis emptied while serving stops
        the app within about a second, and a fixed setting lets it serve again as soon."""
        if self._redis is None or self._watcher is not None:
            return
        await self._judge()
        self._watcher = asyncio.create_task(self._watch(interval), name="parlour-durability")

    async def _judge(self) -> None:
        try:
            await self.assess()
        except StorageError as exc:  # down: /readyz and every request that needs it say so
            log.debug("durability check skipped: %s", exc)

    async def _watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._judge()

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
