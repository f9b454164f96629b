"""The ``bookings`` namespace's key layout: every kind of key is spelled here and nowhere else,
with a function that builds it and one that recognises it. Whoever reads, writes or filters the
namespace's keys (the engine, the day cache, the client index, a change feed's subscriber such as
the staff desk's live view) goes through these.

    b:<id>                   the booking
    u:<resource>:<unit>      a 5-minute unit the resource is busy, holding the booking's id
    d:<date>:<resource>      a local day's bookings, cancelled too (services.bookings.day_index)
    t:<sha256 of token>      the manage link's token -> booking id (the token is never stored)
    i:<sha256 of key>        an idempotency key -> booking id and the token masked with a pad
                             only the key opens, for a day: a repeat gets the same answer
    k:<id>                   the manage token, sealed, for the booking's later messages
                             (services.notices.notifier)
    c:k:<id>                 the client index: a client key's bookings' summaries
    c:q:<nn>                 ... keys whose listing is not yet up to date, in 256 shards
    c:l:<id>                 ... a key's listing
    c:p:<phone id>           ... the e-mail keys whose bookings gave that phone
    c:s, c:s:<leaf>          ... the sorted index of listing entries (services.sorted_index)
    c:built                  ... the build marker (services.bookings.client_index has the rest)

The booking's messages live here too (``m:<id>``, the queue shards ``q:...`` and their
directory), in the outbox's own layout: the outbox keeps the same layout in the ``users``
namespace, so services.outbox.keys spells it.
"""

from __future__ import annotations

from datetime import date

from parlour.tokens import sha256_hex

_BOOKING = "b:"
_UNIT = "u:"
_DAY = "d:"
_LINK = "t:"
_REPEAT = "i:"
_SEALED_LINK = "k:"
_CLIENT_INDEX = "c:"
_CLIENT_SUMMARIES = f"{_CLIENT_INDEX}k:"
_CLIENT_PENDING = f"{_CLIENT_INDEX}q:"
_CLIENT_LISTING = f"{_CLIENT_INDEX}l:"
_CLIENT_OWNERS = f"{_CLIENT_INDEX}p:"

BOOKING_RECORDS = (_BOOKING,)
"""The prefixes a change feed is subscribed with to hear of booking records only."""
DAY_LISTS = (_DAY,)
"""The prefixes of the day lists."""
CLIENT_SORTED = f"{_CLIENT_INDEX}s"
"""The prefix of the client index's sorted entries (services.sorted_index adds ``:<leaf>``)."""
CLIENT_INDEX_BUILT = f"{_CLIENT_INDEX}built"


def booking_key(booking_id: str) -> str:
    return f"{_BOOKING}{booking_id}"


def is_booking(key: str) -> bool:
    return key.startswith(_BOOKING)


def booking_id_of(key: str) -> str:
    """The booking id a booking record's key names (:func:`booking_key` read backwards)."""
    return key.removeprefix(_BOOKING)


def unit_key(resource: str, unit: int) -> str:
    """The claim of one 5-minute unit of a resource: it holds the id of the booking it is busy
    with, and a booking commits only if every unit it needs is absent."""
    return f"{_UNIT}{resource}:{unit}"


def is_unit(key: str) -> bool:
    return key.startswith(_UNIT)


def day_key(day: date, resource: str) -> str:
    return f"{_DAY}{day.isoformat()}:{resource}"


def is_day(key: str) -> bool:
    return key.startswith(_DAY)


def link_key(token_hash: str) -> str:
    """The key that leads a manage link's token, by its hash, to its booking."""
    return f"{_LINK}{token_hash}"


def is_link(key: str) -> bool:
    return key.startswith(_LINK)


def repeat_key(idempotency_key: str) -> str:
    """Where a booking request's idempotency key (hashed: it is the client's) is remembered."""
    return f"{_REPEAT}{sha256_hex(idempotency_key)}"


def is_repeat(key: str) -> bool:
    return key.startswith(_REPEAT)


def sealed_link_key(booking_id: str) -> str:
    return f"{_SEALED_LINK}{booking_id}"


def is_sealed_link(key: str) -> bool:
    return key.startswith(_SEALED_LINK)


def client_summaries_key(key_id: str) -> str:
    return f"{_CLIENT_SUMMARIES}{key_id}"


def is_client_summaries(key: str) -> bool:
    return key.startswith(_CLIENT_SUMMARIES)


def client_pending_key(shard: int) -> str:
    return f"{_CLIENT_PENDING}{shard:02x}"


def client_listing_key(key_id: str) -> str:
    return f"{_CLIENT_LISTING}{key_id}"


def is_client_listing(key: str) -> bool:
    return key.startswith(_CLIENT_LISTING)


def client_key_id_of(key: str) -> str:
    """The client key id a summaries or listing key names."""
    return key.removeprefix(_CLIENT_SUMMARIES).removeprefix(_CLIENT_LISTING)


def client_owners_key(phone_id: str) -> str:
    return f"{_CLIENT_OWNERS}{phone_id}"


def is_client_index(key: str) -> bool:
    """Any key of the client index (summaries, pending shards, listings, owners, sorted
    entries, the build marker)."""
    return key.startswith(_CLIENT_INDEX)
