"""An address as a message carries it: in the envelope (``RCPT TO``) and in the To header.

The domain goes as its IDNA A-label (UTS 46: ``ida@exämple.com`` is sent to
``ida@xn--exmple-cua.com``), which every relay takes, SMTPUTF8 or not (RFC 5890, and RFC 6531
section 3.2 for a relay that offers SMTPUTF8: either form names the same host). The local part
is the recipient's own and goes as typed; when it is not ASCII only SMTPUTF8 can carry it
(``services.relay.needs_smtputf8``).
"""

from __future__ import annotations

import idna


class Undeliverable(ValueError):
    """An address no relay can deliver to, whatever it offers (its domain is no IDN)."""


def envelope_address(address: str) -> str:
    """``address`` with its domain as the A-label; raises :class:`Undeliverable`."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address  # as typed: nothing to convert, and case is the recipient's business
    try:
        label = idna.encode(domain.rstrip(".").rstrip("\u3002"), uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise Undeliverable(f"{address} has a domain that is no internet name: {exc}") from exc
    return f"{local}@{label}"


def header_address(address: str) -> str:
    """For the To header: as in the envelope where it can be, else as typed (the transport
    refuses the message with the reason; rendering it for /admin/outbox must still work)."""
    try:
        return envelope_address(address)
    except Undeliverable:
        return address
