"""Links sealed inside queued messages.

A manage link's token is stored only as its hash, yet a reminder sent a day later must carry a
working link. The message keeps the link sealed (Fernet: AES-128-CBC with HMAC-SHA256, from
the ``cryptography`` library) under a key derived from the app secret with HKDF, and the worker
opens it just before rendering. Someone who reads the store alone learns no link; someone who
has the store and the secret could, as they could forge sessions anyway. A changed secret makes
pending messages' links unreadable: they are sent without the link, saying so
(docs/notifications.md has the trade-off).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PURPOSE = b"parlour: links sealed in queued messages"


class Sealer:
    def __init__(self, secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(secret)
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def unseal(self, sealed: str) -> str | None:
        """The text, or ``None`` if it was sealed under another secret or tampered with."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError):
            return None
