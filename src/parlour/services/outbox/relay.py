"""What the SMTP relay said it can do, as this process last heard it.

The delivery worker probes the relay when it starts (connect, EHLO, QUIT) and its transports
update this after every EHLO, so a booking can know, before it commits, whether the address a
client typed is one the relay can deliver to at all: an address with characters before its
``@`` that are not ASCII (``josé@example.com``) needs the relay's SMTPUTF8 (RFC 6531). A
non-ASCII domain (``ida@exämple.com``) needs nothing of the relay: it is sent as its IDNA
A-label (``xn--exmple-cua.com``).

One object per process, shared by reference: the worker writes, anyone reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from parlour.domain.addresses import EmailAddress


@dataclass(slots=True)
class RelayFeatures:
    smtputf8: bool | None = None
    """Whether the relay offered SMTPUTF8 at its last EHLO; ``None`` until it has been asked."""

    def can_deliver(self, address: EmailAddress) -> bool | None:
        """Whether the relay can take ``address``: ``None`` when that depends on what the relay
        says and it has not been asked yet."""
        if not address.needs_smtputf8:
            return True
        return self.smtputf8
