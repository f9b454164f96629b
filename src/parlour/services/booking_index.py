"""The day index of the bookings namespace: which bookings a local day of a resource holds.

    d:<date>:<resource>     {booking id: ""} for every booking of that local day (cancelled too)

The index is a merged document (``transact(merge=...)``): a booking adds its field and a move
takes it from one day to another without reading the day first and without an expectation, so
independent bookings never contend on a day; only the unit claims (``u:...``) and the booking's
own record (compared and set) decide. Reads of many bookings (a day's list, a calendar, the
availability of a day) go through the index instead of reading thousands of units.

Older versions stored the day as a JSON array of ids; such a day still reads, and the first
change that touches it rewrites it as a document, under an expectation of the array it read
(once: afterwards it is merged like any other).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from parlour.services.outbox_records import Staged
from parlour.storage.base import DELETE, JSON, KVStore


def day_key(day: date, resource: str) -> str:
    return f"d:{day.isoformat()}:{resource}"


def ids_of(value: JSON) -> list[str]:
    """The booking ids a stored day holds: a document, or a legacy array."""
    if isinstance(value, dict):
        return sorted(value)
    if isinstance(value, list):
        return [str(booking_id) for booking_id in value]
    return []


async def index_change(
    store: KVStore, booking_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()
) -> Staged:
    """What adds ``booking_id`` to the days ``add`` and takes it off the days ``remove``, to put
    in the change's own transact. A merge, except for a legacy array, which is rewritten."""
    fields: dict[str, dict[str, Any]] = {key: {booking_id: DELETE} for key in remove}
    for key in add:
        fields[key] = {booking_id: ""}
    if not fields:
        return Staged()
    stored = await store.get_many(list(fields))
    writes: dict[str, JSON] = {}
    expect: dict[str, JSON] = {}
    merge: dict[str, dict[str, Any]] = {}
    for key, change in fields.items():
        legacy = stored.get(key)
        if isinstance(legacy, list):
            writes[key] = _upgraded(legacy, change)
            expect[key] = legacy
        else:
            merge[key] = change
    return Staged(writes, merge, expect)


def _upgraded(legacy: list[Any], change: Mapping[str, Any]) -> dict[str, str]:
    document = dict.fromkeys((str(booking_id) for booking_id in legacy), "")
    for booking_id, value in change.items():
        if value is DELETE:
            document.pop(booking_id, None)
        else:
            document[booking_id] = value
    return document
