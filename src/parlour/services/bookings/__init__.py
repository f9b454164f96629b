"""Bookings: the engine that books without double-booking, and what it reads and writes.

    engine.py         BookingService: book, read, cancel, move, change status (one transact each)
    availability.py   what is read of a local day: its bookings, busy units, free times
    claims.py         the unit claims that decide, and the idempotency record of a repeat
    records.py        stored records, parsed requests (BookRequest, ClientDetails), results
    rules.py          which rules apply to whom, what a request may ask, what to offer instead
    keys.py           the bookings namespace's key layout, spelled there only
    day_index.py      the day lists (``d:``) a booking joins and leaves
    day_cache.py      the day lists kept per process, dropped by the change feed
    calendar_days.py  days at a glance: which have free times, why not, the next free one
    client_keys.py    which client a booking belongs to
    client_index.py   what every booking change merges into the client index

The client index is written here, in the step of the change that needs it, and read by
services.clients; so clients import bookings and bookings never import clients. Names are
imported from the module that defines them; this package re-exports nothing.
"""
