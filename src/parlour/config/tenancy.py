"""One salon or many: ``PARLOUR_TENANCY`` and where the salons of a multi-tenant deployment live.

:class:`TenancySettings` contributes its fields to :class:`parlour.config.Settings`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from parlour.config.values import Rate, RateSetting, empty_is_unset

SALON_WORD = r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$"
"""A salon's slug: a DNS label of 1-32 lower-case letters, digits and inner hyphens."""


class TenancySettings(BaseModel):
    """Whether this deployment serves one salon (today's default) or many, each at its host."""

    tenancy: Literal["single", "multi"] = Field(
        "single",
        description="single: one salon, as Parlour always was; multi: many salons, each at "
        "<slug>.PARLOUR_PLATFORM_DOMAIN and its own domains, sign-up and the operator console "
        "at the bare domain (docs/tenancy.md)",
    )
    platform_domain: str | None = Field(
        None,
        description="With PARLOUR_TENANCY=multi: the domain salons are served under, e.g. "
        "example.net (salon maya at maya.example.net); the scheme and port follow "
        "PARLOUR_PUBLIC_ORIGIN, which names the bare domain",
    )
    salons_kept: int = Field(
        1000,
        ge=1,
        description="Salons whose services and caches each instance keeps built (the least "
        "recently served beyond this are rebuilt when next asked for)",
    )
    platform_rate_limit: RateSetting = Field(
        Rate(300, 60),
        description="Limited actions (bookings, logins, reviews, sign-ups) one client address "
        "may make across every salon together, on top of each salon's own limits",
    )
    signup_rate_limit: RateSetting = Field(
        Rate(3, 3600),
        description="Salons one owner address, and one client address, may sign up for (each "
        "sends a confirmation e-mail)",
    )

    _tenancy_empty_is_unset = empty_is_unset("platform_domain")

    @field_validator("platform_domain")
    @classmethod
    def _a_domain(cls, domain: str | None) -> str | None:
        if not domain:
            return None
        name = domain.strip().lower().rstrip(".")
        labels = name.split(".")
        if not all(labels) or any(len(label) > 63 for label in labels) or ":" in name:
            raise ValueError("write a domain name only, e.g. example.net (no scheme or port)")
        return name
