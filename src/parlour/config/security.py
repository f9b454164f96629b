"""Sessions and who is believed: the public address, host names, session lifetimes, 2FA, proxies.

Each class contributes its fields and their validators to :class:`parlour.config.Settings`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from parlour.config.values import HostNames, Networks, Seconds, empty_is_unset


class SessionSettings(BaseModel):
    """The address people use, the host names answered, and how long a session lives."""

    public_origin: str | None = Field(
        None,
        description="The address people use, e.g. https://book.example.com: every link Parlour "
        "writes starts with it, and https makes cookies Secure with the __Host- prefix and turns "
        "on HSTS (set it behind a proxy that terminates TLS); unset: http://PARLOUR_HOST:PORT",
    )
    allowed_hosts: HostNames = Field(
        (),
        description="Other host names this instance answers to (comma-separated), besides "
        "PARLOUR_PUBLIC_ORIGIN's; a request for any other Host gets 400. With neither set: "
        "localhost, 127.0.0.1, [::1] and PARLOUR_HOST, at any port",
    )
    session_idle_timeout: Seconds = Field(
        7200, ge=60, description="Seconds of inactivity (or 30 minutes, 2 hours) that end a session"
    )
    session_absolute_timeout: Seconds = Field(
        43200, ge=60, description="Longest a session lives however active (12 hours by default)"
    )
    session_cache_size: int = Field(
        10000,
        ge=0,
        description="Sessions each instance keeps in memory, each dropped by its change event "
        "from any instance (0: read every session from the store on every request)",
    )

    _session_empty_is_unset = empty_is_unset("public_origin")

    @field_validator("public_origin")
    @classmethod
    def _an_origin(cls, origin: str | None) -> str | None:
        if not origin:
            return None
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError("write scheme and host only, e.g. https://book.example.com")
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def secure_cookies(self) -> bool:
        return bool(self.public_origin and self.public_origin.startswith("https://"))


class AccessSettings(BaseModel):
    """Two-factor for admins, and the proxies whose word on the client's address is taken."""

    require_2fa: bool = Field(
        False,
        description="Admins must set up two-factor (TOTP) before they can use any other admin page",
    )
    trusted_proxies: Networks = Field(
        (),
        description="Proxies whose X-Forwarded-For is believed (comma-separated addresses or "
        "networks); empty trusts none",
    )
