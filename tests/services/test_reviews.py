from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parlour.domain.booking import Booking, Status
from parlour.errors import Conflict, InvalidInput, NotFound
from parlour.services.reviews import ReviewService
from parlour.storage import KVStore
from parlour.storage.memory import MemoryBackend


def booking(status: Status, booking_id: str = "b1") -> Booking:
    return Booking(
        id=booking_id,
        treatment_id="t",
        treatment_name="Facial",
        resource_id="r",
        start=datetime(2026, 12, 1, 10, tzinfo=UTC),
        duration=60,
        buffer_before=0,
        buffer_after=0,
        price=100,
        client_name="Zoë Smith",
        email="z@example.com",
        phone="0770",
        status=status,
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        token_hash="h",
    )


@pytest.fixture
def reviews() -> ReviewService:
    return ReviewService(KVStore(MemoryBackend(), "reviews"))


@pytest.mark.parametrize("status", [Status.CONFIRMED, Status.CANCELLED, Status.NO_SHOW])
async def test_only_a_completed_booking_can_be_reviewed(
    reviews: ReviewService, status: Status
) -> None:
    with pytest.raises(Conflict, match="once your visit has taken place"):
        await reviews.submit(booking(status), "5", "Lovely")
    assert await reviews.all() == []


async def test_one_review_per_booking_into_moderation(reviews: ReviewService) -> None:
    review = await reviews.submit(booking(Status.COMPLETED), "4", "  Lovely visit  ")
    assert (review.status, review.stars, review.text, review.name) == (
        "pending",
        4,
        "Lovely visit",
        "Zoë",
    )
    with pytest.raises(Conflict, match="already been reviewed"):
        await reviews.submit(booking(Status.COMPLETED), "1", "Changed my mind")
    assert (await reviews.public()).reviews == []  # not shown before it is approved


@pytest.mark.parametrize(
    ("stars", "text", "fields"),
    [
        ("0", "ok", {"stars"}),
        ("6", "ok", {"stars"}),
        ("five", "ok", {"stars"}),
        ("5", "   ", {"text"}),
        ("5", "x" * 2001, {"text"}),
        ("", "", {"stars", "text"}),
    ],
)
async def test_invalid_reviews_name_the_field(
    reviews: ReviewService, stars: str, text: str, fields: set[str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await reviews.submit(booking(Status.COMPLETED), stars, text)
    assert set(caught.value.fields) == fields


async def test_the_public_page_shows_approved_reviews_and_their_average(
    reviews: ReviewService,
) -> None:
    for number, stars in enumerate([5, 4, 1]):
        await reviews.submit(booking(Status.COMPLETED, f"b{number}"), str(stars), "text")
    await reviews.moderate("b0", "approved")
    await reviews.moderate("b1", "approved")
    await reviews.moderate("b2", "rejected")
    summary = await reviews.public()
    assert summary.count == 2
    assert summary.average == 4.5
    with pytest.raises(NotFound):
        await reviews.moderate("nope", "approved")
