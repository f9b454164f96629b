"""Where an outbox keeps its messages, inside the namespace of the change that made them (the
``bookings`` namespace for a booking's notices, ``users`` for password resets): spelled here
only, and read by :mod:`services.outbox.store` and whoever filters a namespace's keys.

    m:<id>              the message: who to, what (typed data, rendered when sent), its state
    q:<YYYYMMDDHH><b>   a queue shard: one hour (UTC) of due times, bucket b of 16 by a hash of
                        the message id: message id -> due time
    qdays               the days that have shards: YYYYMMDD -> "" (what a worker reads first)
    qh:<YYYYMMDD>       that day's hours that have shards: HH -> ""
    mdead               messages that need a person: dead or held, id -> when made
    msent:<hour><b>     what was sent in that hour (bucket b): id -> when (kept 31 days)
"""

from __future__ import annotations

_MESSAGE = "m:"
_QUEUE = "q:"

QUEUE_PREFIXES = (_QUEUE,)
"""The keys whose changes may make a message due: what a worker listens for."""
QUEUE_DAYS = "qdays"
ATTENTION = "mdead"


def message_key(message_id: str) -> str:
    return f"{_MESSAGE}{message_id}"


def is_message(key: str) -> bool:
    return key.startswith(_MESSAGE)


def queue_key(shard: str) -> str:
    """The key of the queue shard ``shard`` (``YYYYMMDDHH`` and a bucket)."""
    return f"{_QUEUE}{shard}"


def is_queue(key: str) -> bool:
    return key.startswith(QUEUE_PREFIXES)


def shard_of_key(key: str) -> str:
    """The shard a queue key holds (:func:`queue_key` read backwards)."""
    return key.removeprefix(_QUEUE)


def hours_key(day: str) -> str:
    """The directory of a day's hours that have shards (``YYYYMMDD``)."""
    return f"qh:{day}"


def day_of_hours_key(key: str) -> str:
    return key.removeprefix("qh:")


def sent_key(hour_and_bucket: str) -> str:
    """The log of what was sent in an hour (``YYYYMMDDHH``) and bucket."""
    return f"msent:{hour_and_bucket}"
