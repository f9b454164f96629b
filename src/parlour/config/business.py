"""The salon's own choices: when reminders go, and who on the staff hears of bookings.

:class:`BusinessSettings` contributes its fields to :class:`parlour.config.Settings`. These are the
settings a deployment serving several salons would set per salon.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from parlour.config.values import Seconds


class BusinessSettings(BaseModel):
    """Reminders and staff alerts."""

    reminder_before: Seconds = Field(
        86400, ge=60, description="How long before a booking its reminder goes (24 hours)"
    )
    staff_alerts_to: str = Field(
        "",
        description="The business's address for staff alerts of new, moved and cancelled "
        "bookings; empty sends none",
    )
    therapist_alerts: bool = Field(
        True,
        description="Alert the therapist of their bookings too, at the e-mail of their "
        "resource (none when it has none)",
    )

    @field_validator("staff_alerts_to")
    @classmethod
    def _an_address_or_none(cls, value: str) -> str:
        value = value.strip()
        if value and ("@" not in value or any(c in value for c in "\r\n, ")):
            raise ValueError("write one address, e.g. front-desk@example.com, or leave it empty")
        return value
