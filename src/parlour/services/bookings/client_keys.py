"""Which client a booking belongs to: the one rule that the client list, its index
(services.bookings.client_index) and the reference derivation (services.clients.service's
``group``) share.

A booking names its client by a key: its e-mail address, case-folded (``email:<address>``), or,
with no e-mail, its phone number's digits (a leading ``+`` kept) and the client's name,
case-folded with its spaces collapsed (``tel:<digits>:<name>``); an erased booking names
nobody. A client's id is a hash of its key, so no address appears in a URL or a log.

The bookings of one key are one client, and a key's bookings are never shown under another
(issue 24): a phone number is shared by families and by a salon's own desk, so two people who
booked with one number are two clients, and a phone-only booking never joins an e-mail client
that gave the same number. Staff merge two clients on purpose (services.clients.people), which
gives every booking of both the same details, and so the same key.

Until issue 24 a phone-only key was ``tel:<digits>`` alone, and was shown under the one e-mail
client whose bookings gave that number. :func:`legacy_phone_key` names such a key still: the
staff's notes written on it are kept under it and shown with every phone-only client of that
number (they were one client when the notes were written).
"""

from __future__ import annotations

from parlour.domain.booking import Booking
from parlour.tokens import sha256_hex


def phone_key(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit())
    return ("+" if phone.strip().startswith("+") else "") + digits


def folded_name(name: str) -> str:
    return " ".join(name.casefold().split())


def client_key(email: str, phone: str, name: str = "") -> str:
    """``email:<address>`` or ``tel:<digits>:<name>``; empty for a booking with neither an
    address nor a number (erased). A phone key needs the name: :func:`client_key_of`."""
    if email.strip():
        return f"email:{email.strip().casefold()}"
    digits = phone_key(phone)
    return f"tel:{digits}:{folded_name(name)}" if digits.strip("+") else ""


def client_key_of(booking: Booking) -> str:
    return client_key(booking.email, booking.phone, booking.client_name)


def legacy_phone_key(key: str) -> str:
    """For a phone key, the key its bookings had before issue 24 (``tel:<digits>``), where
    notes written then are kept; empty for an e-mail key."""
    if not key.startswith("tel:"):
        return ""
    return "tel:" + key.removeprefix("tel:").partition(":")[0]


def client_id(key: str) -> str:
    return sha256_hex(key)[:24]
