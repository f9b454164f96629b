"""Which client a booking belongs to: the one rule that the client list, its index
(services.bookings.client_index) and the reference derivation (services.clients.service's
``group``) share.

A booking names its client by a key: its e-mail address, case-folded (``email:<address>``), or,
with no e-mail, its phone number's digits with a leading ``+`` kept (``tel:<digits>``); an
erased booking names nobody. A client's id is a hash of its key, so no address appears in a
URL or a log.

The bookings of one key are one client, except that a phone key's bookings are shown under the
one e-mail client whose own bookings gave that phone number, if there is exactly one
(:func:`shown_under`). Issue 24 changes that rule (phone clients stay apart, staff merge two on
purpose): :func:`shown_under` is the place, and the index is unaffected, since it keeps each
key's bookings and which e-mail keys gave each phone, and applies the rule when it is read.
"""

from __future__ import annotations

from collections.abc import Collection

from parlour.tokens import sha256_hex


def phone_key(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit())
    return ("+" if phone.strip().startswith("+") else "") + digits


def client_key(email: str, phone: str) -> str:
    """``email:<address>`` or ``tel:<digits>``; empty for a booking with neither (erased)."""
    if email.strip():
        return f"email:{email.strip().casefold()}"
    digits = phone_key(phone)
    return f"tel:{digits}" if digits.strip("+") else ""


def phone_client_key(phone: str) -> str:
    """The key a phone-only booking with this phone number would have; empty for none."""
    return client_key("", phone)


def client_id(key: str) -> str:
    return sha256_hex(key)[:24]


def shown_under(own: str, owners: Collection[str], *, phone_only: bool) -> str:
    """The client whose bookings a key's bookings are shown with: ``own`` itself, or, for a
    phone key (``phone_only``), the single e-mail key among ``owners`` (those whose bookings
    gave that phone number), if there is exactly one. Keys or ids alike: only equality counts."""
    if phone_only and len(owners) == 1:
        return next(iter(owners))
    return own
