"""The small byte-level tools behind Parlour's tokens: URL-safe base64 without padding, XOR
pads of equal length, and SHA-256 storage keys. Used by CSRF tokens (web.csrf), manage-link
tokens (services.bookings) and session keys (services.sessions)."""

from __future__ import annotations

import base64
import binascii
import hashlib


def b64encode(data: bytes) -> str:
    """URL-safe base64, unpadded: fits in a URL path, a cookie or a form field as it is."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64decode(text: str) -> bytes | None:
    """The bytes of :func:`b64encode`'s text; ``None`` for text that is not one."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError, binascii.Error):
        return None


def xor(left: bytes, right: bytes) -> bytes:
    """``left`` XOR ``right``, which have the same length."""
    return (int.from_bytes(left) ^ int.from_bytes(right)).to_bytes(len(left))


def sha256_hex(text: str) -> str:
    """The key a secret is stored under: its SHA-256, so the store never holds the secret."""
    return hashlib.sha256(text.encode()).hexdigest()
