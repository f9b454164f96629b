"""E-mail: the SMTP server and sender, and how the outbox retries and paces its messages.

Each class contributes its fields and their validators to :class:`parlour.config.Settings`; what
the business sends and to whom is in :mod:`parlour.config.business`.
"""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from parlour.config.values import Rate, RateSetting, empty_is_unset


class SmtpSettings(BaseModel):
    """The SMTP server, the From of every message, and how long to wait for the server."""

    smtp_url: str | None = Field(
        None,
        description="SMTP server for e-mail: smtp://user:password@host:587 (STARTTLS when "
        "offered) or smtps://user:password@host:465 (TLS from the start); unset keeps every "
        "message in the outbox, readable at /admin/outbox",
    )
    mail_from: str = Field(
        "Parlour <parlour@localhost>",
        description="The From of every message, e.g. Salon Name <bookings@example.com>",
    )
    smtp_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds to wait for the SMTP server to connect or answer each command",
    )

    _smtp_empty_is_unset = empty_is_unset("smtp_url")

    @field_validator("smtp_url")
    @classmethod
    def _an_smtp_url(cls, url: str | None) -> str | None:
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                "write smtp://user:password@host:587 (STARTTLS when offered) or "
                "smtps://user:password@host:465 (TLS from the start)"
            )
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError as exc:
            raise ValueError("the port must be a number, e.g. smtp://host:587") from exc
        return url

    @field_validator("mail_from")
    @classmethod
    def _an_address(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address or any(c in value for c in "\r\n"):
            raise ValueError("write an address, e.g. Salon Name <bookings@example.com>")
        return value


class DeliverySettings(BaseModel):
    """How often a message is tried, how long between tries, and how many go out per window."""

    mail_max_attempts: int = Field(
        10, ge=1, le=100, description="Tries to send a message before it is dead"
    )
    mail_retry_base: float = Field(
        30.0,
        gt=0,
        le=86400,
        description="Seconds before the first retry; each retry waits about twice as long, "
        "with jitter, up to an hour",
    )
    mail_recipient_rate_limit: RateSetting = Field(
        Rate(5, 3600),
        description="Messages a public action (booking, moving, cancelling) may send to one "
        "address (with many salons, from each salon); more are held in the outbox for staff "
        "to send or not",
    )
    mail_global_rate_limit: RateSetting = Field(
        Rate(500, 3600),
        description="Messages to clients all instances send together (with many salons, each "
        "salon's); more wait for the window",
    )
