"""Where a namespace's keys live in Redis: the part of every key that names its hash slot.

    bookings        -> {bookings}              one slot per namespace (a single salon)
    bookings@maya   -> {s.maya}:bookings       one slot per salon, all its namespaces in it

A salon's namespaces share one hash tag, so a booking's atomic step (its claims, its record, its
index entries and its messages, in ``bookings``) stays in one Cluster slot while salons spread
over every master. A namespace is a validated word and a slug a validated DNS label
(``storage.base.check_namespace``), so no key of one salon or namespace can reach another's:
``{bookings}:v:`` and ``{s.maya}:bookings:v:`` cannot be spelled by the other's keys.
"""

from __future__ import annotations

from parlour.storage.base import split_namespace


def space(namespace: str) -> str:
    """The hash-tagged part of ``namespace``'s keys, after the prefix."""
    kind, salon = split_namespace(namespace)
    return f"{{{kind}}}" if salon is None else f"{{s.{salon}}}:{kind}"
