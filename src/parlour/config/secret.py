"""The secret key: ``PARLOUR_SECRET_KEY``, else one generated once into the data directory."""

from __future__ import annotations

import os
import secrets

from parlour.config.storage import DataSettings


def load_secret_key(settings: DataSettings) -> bytes:
    """``PARLOUR_SECRET_KEY``, else a key generated once into the data directory.

    The generated key suits one host. Instances on several hosts must share one secret, or a
    form signed by one instance is refused by another and rate limits are counted apart.
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = settings.data_dir / "secret_key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48).encode()
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
            file.write(key)
    except FileExistsError:  # another process of this host wrote it first: use theirs
        return path.read_bytes().strip()
    return key
