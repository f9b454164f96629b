"""The outbox's queue: which shard a message waits in, found through a directory of days and
hours (the keys are services.outbox.keys), and what a worker's scan of it answers.

A message waits in the shard of its due hour (UTC) and of one of sixteen buckets by a hash of its
id; the directory (``qdays``, ``qh:<day>``) says which hours have shards, so a worker reads the
days and hours up to now and then only those shards.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from parlour.services.outbox.keys import QUEUE_DAYS, hours_key, queue_key

BUCKETS = 16
"""Shards per hour. A merge rewrites its whole document (on Redis, in Lua, measured at about
0.1 ms per field on this machine), so the messages due in one hour are spread over sixteen
documents by a hash of their id: a burst of 800 confirmations makes shards of about 50."""


def hour_of(instant: float) -> str:
    at = datetime.fromtimestamp(instant, UTC)  # as strftime("%Y%m%d%H"), a few times faster
    return f"{at.year:04d}{at.month:02d}{at.day:02d}{at.hour:02d}"


def shard_of(due: float, message_id: str) -> str:
    """``YYYYMMDDHH`` and a bucket letter: the shard that holds a message while it waits."""
    return f"{hour_of(due)}{bucket_of(message_id)}"


def shards_of_hour(hour: str) -> list[str]:
    return [queue_key(f"{hour}{bucket:x}") for bucket in range(BUCKETS)]


def directory_merges(shard: str) -> dict[str, dict[str, Any]]:
    """The directory merges that let a worker find ``shard``: its day, and its hour that day."""
    return {QUEUE_DAYS: {shard[:8]: ""}, hours_key(shard[:8]): {shard[8:10]: ""}}


def bucket_of(message_id: str) -> str:
    return f"{zlib.crc32(message_id.encode()) % BUCKETS:x}"


def due_stamp(instant: float) -> str:
    return f"{instant:.3f}"


@dataclass(frozen=True, slots=True)
class Due:
    message_id: str
    due: float
    shard: str


@dataclass(frozen=True, slots=True)
class Scan:
    due: list[Due]
    """Due now and not sent, oldest first."""
    next_due: float
    """The earliest later time a worker must look again (the next due message or the next
    hour, whose shard it has not read)."""
