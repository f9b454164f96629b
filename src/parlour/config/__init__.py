"""Settings: read once from the environment and ``.env``, frozen, passed explicitly.

``REDIS_URL``, ``REDIS_TLS_ENABLED`` and ``REDIS_PASSWORD`` keep the names operators already use;
everything else is ``PARLOUR_*``. Nothing here is read at import time: call :func:`load_settings`.

The package is split by concern; every name is imported from here:

- ``settings``: the one :class:`Settings` class, :func:`load_settings` and its error messages;
- ``storage``, ``security``, ``limits``, ``serving``, ``mail``, ``business``: the groups of fields
  (with their validators) that :class:`Settings` is built from, one per section of ``.env.example``;
- ``values``: how a value is written (rates, durations, host names) and shown again;
- ``vocabulary``: the kinds of record, backend names and Redis schemes;
- ``secret``: the secret key, given or generated once into the data directory.
"""

from __future__ import annotations

from parlour.config.secret import load_secret_key
from parlour.config.settings import Settings, env_name, load_settings
from parlour.config.values import Rate, display, mask_url_password, parse_duration, parse_rate
from parlour.config.vocabulary import NAMESPACES, PLATFORM_NAMESPACES, REDIS_SCHEMES, BackendName

__all__ = [
    "NAMESPACES",
    "PLATFORM_NAMESPACES",
    "REDIS_SCHEMES",
    "BackendName",
    "Rate",
    "Settings",
    "display",
    "env_name",
    "load_secret_key",
    "load_settings",
    "mask_url_password",
    "parse_duration",
    "parse_rate",
]
