"""What the booking engine's events will send, and when.

For now, when a reminder is due. Wiring the engine's events into the outbox through its commit
step comes with the engine's typed commands (issue 13, stage B).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

DAY = 86400


def reminder_due(
    start: datetime, before_seconds: int, zone: ZoneInfo, now: datetime
) -> datetime | None:
    """When the reminder of a booking starting at ``start`` goes, or ``None`` for none.

    A lead of whole days is read on the business's clock: "24 hours" before 10:00 on the Monday
    after the clocks change is 10:00 on the Sunday, as the client expects, not 09:00 or 11:00.
    Any other lead is plain elapsed time. A wall time the clock skips is moved on by the gap
    (01:30 on the spring night in London is read as 02:30), one it repeats (01:30 on the autumn
    night) as its first occurrence. A booking made inside the lead gets no reminder:
    the confirmation it just had says the same.
    """
    if before_seconds % DAY == 0:
        local = start.astimezone(zone)
        earlier = (local.replace(tzinfo=None) - timedelta(days=before_seconds // DAY)).replace(
            tzinfo=zone, fold=0
        )
        due = earlier.astimezone(UTC)  # PEP 495: a skipped time by the offset before the gap
    else:
        due = start.astimezone(UTC) - timedelta(seconds=before_seconds)
    return due if due > now.astimezone(UTC) else None
