"""Why a time cannot be booked, in words a client can act on (issue 24, defect 12)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from parlour.domain.catalogue import BookingRules, Resource
from parlour.domain.schedule import Schedule
from parlour.services.bookings.offer import notice, refusal
from parlour.services.catalogue import Business

from support.salon import DAY, FACIAL, NOW, RETIRED, WEEKDAYS, at

RULES = BookingRules(timezone="Europe/London", min_notice=120, horizon_days=60)
BUSINESS = Business(name="Test Salon", phone="01225 555 0100", rules=RULES)
WEEK = Schedule(weekly=(WEEKDAYS,) * 5 + ((), ()))
RESOURCES = [Resource("r_ann", "Ann", WEEK), Resource("r_bob", "Bob", WEEK)]


@pytest.mark.parametrize(
    ("start", "treatment", "wanted", "says"),
    [
        (at(9, day=DAY - timedelta(days=2)), FACIAL, "", "That time has passed."),
        (at(10, day=DAY + timedelta(days=90)), FACIAL, "", "Bookings open 60 days ahead"),
        (at(10, 5), FACIAL, "", "Times start every 15 minutes; 10:05 is not one of them."),
        (at(10), RETIRED, "", "Old thing is not offered any more."),
        (at(10), FACIAL, "r_nobody", "That therapist does not do Facial."),
        (at(3), FACIAL, "", "Facial is not offered on Wednesday 2 December at 03:00"),
        (at(10), FACIAL, "", ""),
    ],
    ids=["past", "beyond", "off-grid", "retired", "not-theirs", "night", "fine"],
)
def test_a_time_is_refused_with_its_reason(
    start: str, treatment: object, wanted: str, says: str
) -> None:
    why = refusal(BUSINESS, treatment, RESOURCES, datetime.fromisoformat(start), NOW, wanted)  # type: ignore[arg-type]
    assert why.startswith(says) if says else why == ""


def test_a_time_inside_the_notice_names_the_notice_and_the_first_time() -> None:
    now = datetime.fromisoformat(at(9, 30))
    why = refusal(BUSINESS, FACIAL, RESOURCES, datetime.fromisoformat(at(11)), now)
    assert why == (
        "We need 2 hours notice to get ready for a booking, so the times you can book online "
        "start after Wednesday 2 December at 11:30. Call us on 01225 555 0100 for sooner."
    )
    without_phone = replace(BUSINESS, phone="")
    assert refusal(without_phone, FACIAL, RESOURCES, datetime.fromisoformat(at(11)), now).endswith(
        "at 11:30."
    )


@pytest.mark.parametrize(
    ("minutes", "words"), [(1, "1 minute"), (90, "90 minutes"), (60, "1 hour"), (2880, "2 days")]
)
def test_notice_in_words(minutes: int, words: str) -> None:
    assert notice(minutes) == words
