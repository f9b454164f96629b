"""When a reminder goes: on the business's clock across clock changes, none inside the lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parlour.services.notices.notifier import reminder_due

LONDON = ZoneInfo("Europe/London")
EARLY = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        pytest.param("2026-03-30T10:00+01:00", "2026-03-29T10:00+01:00", id="after-spring-change"),
        pytest.param("2026-03-29T10:00+01:00", "2026-03-28T10:00+00:00", id="on-spring-change"),
        pytest.param("2026-10-26T10:00+00:00", "2026-10-25T10:00+00:00", id="after-autumn-change"),
        pytest.param("2026-10-25T10:00+00:00", "2026-10-24T10:00+01:00", id="on-autumn-change"),
        pytest.param("2026-03-30T01:30+01:00", "2026-03-29T02:30+01:00", id="into-the-gap"),
        pytest.param("2026-10-26T01:30+00:00", "2026-10-25T01:30+01:00", id="into-the-repeat"),
    ],
)
def test_a_day_ahead_is_the_same_time_on_the_salons_clock(start: str, expected: str) -> None:
    due = reminder_due(datetime.fromisoformat(start), 86400, LONDON, EARLY)
    assert due == datetime.fromisoformat(expected)


def test_hours_that_are_not_whole_days_are_elapsed_time() -> None:
    start = datetime.fromisoformat("2026-03-29T10:00+01:00")
    assert reminder_due(start, 3 * 3600, LONDON, EARLY) == start - timedelta(hours=3)
    # 10:00 BST minus 30 elapsed hours crosses the gap: 03:00 GMT the day before.
    assert reminder_due(start, 30 * 3600, LONDON, EARLY) == datetime(2026, 3, 28, 3, tzinfo=UTC)


def test_no_reminder_for_a_booking_made_inside_the_lead() -> None:
    start = datetime(2026, 6, 2, 9, tzinfo=UTC)
    assert reminder_due(start, 86400, LONDON, start - timedelta(hours=23)) is None
    assert reminder_due(start, 86400, LONDON, start - timedelta(hours=25)) is not None


@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 5), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    days=st.integers(1, 3),
    zone=st.sampled_from(["Europe/London", "America/New_York", "Australia/Sydney"]),
)
def test_whole_days_keep_the_wall_clock_and_never_come_after_the_start(
    start: datetime, days: int, zone: str
) -> None:
    tz = ZoneInfo(zone)
    due = reminder_due(start, days * 86400, tz, EARLY)
    assert due is not None
    assert due < start
    local_start, local_due = start.astimezone(tz), due.astimezone(tz)
    assert local_start.date() - local_due.date() == timedelta(days=days)
    # Same wall time, unless the clock skipped it that day (then at most an hour later).
    gap = local_due.replace(tzinfo=None) - (local_start.replace(tzinfo=None) - timedelta(days=days))
    assert timedelta(0) <= gap <= timedelta(hours=1)
