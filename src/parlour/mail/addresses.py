"""An address as a message carries it: in the envelope (``RCPT TO``) and in the To header.

Both come from :func:`parlour.domain.addresses.parse_email`, the one syntax every form and the
API accept: the domain as its IDNA A-label (``ida@exämple.com`` goes to
``ida@xn--exmple-cua.com``), which every relay takes, the local part as typed (only SMTPUTF8
carries a non-ASCII one). A message queued by an older version with an address that syntax
refuses is undeliverable: it would be read as another address by the SMTP client.
"""

from __future__ import annotations

from parlour.domain.addresses import EmailAddress, parse_email
from parlour.errors import InvalidInput


class Undeliverable(ValueError):
    """An address no relay can deliver to, whatever it offers."""


def recipient(address: str) -> EmailAddress:
    """``address`` parsed; raises :class:`Undeliverable` saying why."""
    try:
        return parse_email(address)
    except InvalidInput as exc:
        raise Undeliverable(f"{address} cannot be mailed: {exc.fields['email']}") from exc


def header_address(address: str) -> str:
    """For the To header: as in the envelope where it can be, else as typed (the transport
    refuses the message with the reason; rendering it for /admin/outbox must still work)."""
    try:
        return recipient(address).envelope
    except Undeliverable:
        return address
