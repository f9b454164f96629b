"""Rate limits, what they do while Redis is down, and how many passwords are hashed at once.

:class:`LimitSettings` contributes its fields to :class:`parlour.config.Settings`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from parlour.config.values import Outage, Rate, RateSetting


class LimitSettings(BaseModel):
    """How much one client, account or address may ask for, and the hashing pool's size."""

    booking_rate_limit: RateSetting = Field(
        Rate(3, 900), description="Bookings one e-mail address, and one client IP, may attempt"
    )
    login_rate_limit: RateSetting = Field(
        Rate(10, 900),
        description="Failed logins allowed per client IP, and per account from one client IP",
    )
    login_account_rate_limit: RateSetting = Field(
        Rate(100, 86400),
        description="Failed logins allowed per account from all the addresses it has not "
        "logged in from before (a slow brake on guessing from many addresses)",
    )
    review_rate_limit: RateSetting = Field(
        Rate(5, 3600), description="Reviews one booking link, and one client IP, may submit"
    )
    password_reset_rate_limit: RateSetting = Field(
        Rate(3, 3600),
        description="Password reset links one address, and one client IP, may ask for",
    )
    booking_rate_limit_outage: Outage = Field(
        "open", description="When Redis is down: open admits bookings (logged), closed refuses"
    )
    login_rate_limit_outage: Outage = Field(
        "closed", description="When Redis is down: closed refuses logins rather than go unlimited"
    )
    review_rate_limit_outage: Outage = Field(
        "open", description="When Redis is down: open admits reviews (logged), closed refuses"
    )
    password_hash_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="Passwords hashed or checked at once, per process (each takes 64 MiB and, "
        "for about 0.15 s, up to four cores); more wait in the queue",
    )
    password_hash_queue: int = Field(
        64,
        ge=0,
        le=10000,
        description="Logins that may wait for a hashing thread; beyond that a login is "
        "answered 503 with Retry-After at once, its password unchecked and its attempt not counted",
    )
