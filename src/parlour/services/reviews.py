"""Reviews: one per completed booking, written through its manage link, shown once approved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from parlour.domain.booking import Booking
from parlour.domain.text import HIDDEN, hidden_characters
from parlour.errors import Conflict, InvalidInput, NotFound
from parlour.storage.base import KVStore

ReviewStatus = Literal["pending", "approved", "rejected"]
MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class Review:
    booking_id: str
    name: str
    """The client's first name only: what a public page may show."""
    treatment_name: str
    stars: int
    text: str
    status: ReviewStatus
    created_at: str
    """ISO 8601, UTC."""


@dataclass(frozen=True, slots=True)
class Summary:
    reviews: list[Review]
    average: float | None
    count: int


class ReviewService:
    def __init__(
        self, store: KVStore, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._store = store
        self._clock = clock

    async def for_booking(self, booking_id: str) -> Review | None:
        data = await self._store.get_item(booking_id)
        return None if data is None else Review(**data)

    async def submit(self, booking: Booking, stars_text: str, text: str) -> Review:
        """Into the moderation queue. Only for a completed booking, and only once."""
        if not booking.reviewable(self._clock()):
            raise Conflict("Reviews open once your visit has taken place.")
        problems = {}
        try:
            stars = int(stars_text)
        except ValueError:
            stars = 0
        if not 1 <= stars <= 5:
            problems["stars"] = "Choose from one to five stars."
        text = text.strip()
        if not text:
            problems["text"] = "Write a few words about your visit."
        elif len(text) > MAX_TEXT:
            problems["text"] = f"Keep the review under {MAX_TEXT} characters."
        elif hidden_characters(text, multiline=True):
            problems["text"] = HIDDEN
        if problems:
            raise InvalidInput(problems)
        review = Review(
            booking_id=booking.id,
            name=booking.client_name.split()[0],
            treatment_name=booking.treatment_name,
            stars=stars,
            text=text,
            status="pending",
            created_at=self._clock().isoformat(),
        )
        if not await self._store.set_if_absent(booking.id, asdict(review)):
            raise Conflict("This booking has already been reviewed. Thank you!")
        return review

    async def all(self) -> list[Review]:
        reviews = [Review(**data) for data in (await self._store.get_all_items()).values()]
        return sorted(reviews, key=lambda r: r.created_at, reverse=True)

    async def public(self) -> Summary:
        approved = [r for r in await self.all() if r.status == "approved"]
        average = sum(r.stars for r in approved) / len(approved) if approved else None
        return Summary(approved, average, len(approved))

    async def moderate(self, booking_id: str, status: ReviewStatus) -> Review:
        def change(data: dict[str, object] | None) -> dict[str, object]:
            if data is None:
                raise NotFound("There is no such review.")
            return asdict(replace(Review(**data), status=status))  # type: ignore[arg-type]

        return Review(**await self._store.update(booking_id[:64], change))
