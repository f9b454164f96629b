"""Who is on the other end: the peer, or what trusted proxies say in X-Forwarded-For."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client address, believing ``X-Forwarded-For`` only as far as trusted proxies go.

    Walks the chain from the nearest hop outwards and stops at the first address that is not a
    trusted proxy: an address a client wrote into the header itself is never believed. A hop that
    is not an address ends the walk at the last one that was.
    """
    address = peer or "0.0.0.0"  # noqa: S104 - an unknown peer, never a listening address
    if not forwarded_for or not _trusted(address, trusted):
        return address
    for hop in reversed(forwarded_for.split(",")):
        try:
            candidate = str(ipaddress.ip_address(hop.strip()))
        except ValueError:
            return address
        address = candidate
        if not _trusted(address, trusted):
            return address
    return address


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
