"""Clients, as staff see them, derived from their bookings.

    service.py     ClientService: a client's history, notes, export and erasure
    directory.py   the client list, a page at a time, from the client index
    listing.py     the client index brought up to date before it is read, and built
    search.py      what staff can type to find a client, and the sorted entries that answer it
    records.py     booking records as a whole: every booking, a new manage link, erasure

Clients import from services.bookings (its records, key layout and client index) and never the
other way round. Names are imported from the module that defines them; this package re-exports
nothing.
"""
