"""The day index of the bookings namespace: which bookings a local day of a resource holds.

    d:<date>:<resource>     {booking id: ""} for every booking of that local day (cancelled too)
                            (spelled by services.bookings.keys.day_key)

The index is a merged document (``transact(merge=...)``): a booking adds its field and a move
takes it from one day to another without reading the day first and without an expectation, so
independent bookings never contend on a day; only the unit claims (``u:...``) and the booking's
own record (compared and set) decide. Reads of many bookings (a day's list, a calendar, the
availability of a day) go through the index instead of reading thousands of units.

Older versions stored the day as a JSON array of ids; such a day still reads, and the first
change that touches it finds its merge refused (``CorruptValue``, nothing changed), rewrites it
as a document under an expectation of the array it read, and is tried again (once: afterwards
it is merged like any other). So no change reads its days before writing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parlour.services.bookings.keys import is_day
from parlour.services.staged import Staged
from parlour.storage.base import DELETE, JSON, KVStore


def ids_of(value: JSON) -> list[str]:
    """The booking ids a stored day holds: a document, or a legacy array."""
    if isinstance(value, dict):
        return sorted(value)
    if isinstance(value, list):
        return [str(booking_id) for booking_id in value]
    return []


def index_change(booking_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> Staged:
    """The merges that add ``booking_id`` to the days ``add`` and take it off the days
    ``remove``, to put in the change's own transact: nothing is read first. A day still stored
    as a legacy array makes that transact raise ``CorruptValue``; :func:`upgrade_legacy_days`
    then rewrites it, and the change is tried again."""
    merge: dict[str, dict[str, Any]] = {key: {booking_id: DELETE} for key in remove}
    for key in add:
        merge[key] = {booking_id: ""}
    return Staged(merge=merge)


async def upgrade_legacy_days(store: KVStore, keys: Sequence[str]) -> bool:
    """Rewrite those of the day ``keys`` stored as a legacy array as documents holding the same
    ids, each under an expectation of the array it read, so nothing written meanwhile is lost.
    ``True`` if any of them was an array (its change can be tried again); ``False`` if none
    was, so what made a merge fail is something else."""
    days = [key for key in keys if is_day(key)]
    found = False
    for _ in range(8):
        legacy = {
            key: value
            for key, value in (await store.get_many(days)).items()
            if isinstance(value, list)
        }
        if not legacy:
            return found
        found = True
        upgraded = {key: dict.fromkeys(ids_of(value), "") for key, value in legacy.items()}
        await store.transact(upgraded, expect=legacy)  # lost to a writer: read again
    return found
