"""Clients derived from bookings: keyed by e-mail (any case), else phone; figures per client;
and what a search finds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from parlour.domain.booking import Booking, Status
from parlour.services.bookings.client_keys import client_id, client_key
from parlour.services.clients.service import group

START = datetime(2026, 12, 2, 10, tzinfo=UTC)


def booking(
    n: int, name: str, email: str, phone: str, status: Status, price: int = 1000
) -> Booking:
    return Booking(
        id=f"b_{n}",
        treatment_id="t",
        treatment_name="Facial",
        resource_id="r",
        start=START + timedelta(days=n),
        duration=60,
        buffer_before=0,
        buffer_after=0,
        price=price,
        client_name=name,
        email=email,
        phone=phone,
        status=status,
        created_at=START + timedelta(days=n),
        token_hash="",
    )


def test_one_client_per_email_whatever_its_case_and_a_phone_only_booking_stays_apart() -> None:
    # Issue 24, defect 5: a phone number is shared (families, the salon's desk), so a
    # phone-only booking is its own client; staff merge two on purpose.
    clients = group(
        [
            booking(1, "Ann", "Ann@Example.com", "07700 900111", Status.COMPLETED, 4000),
            booking(2, "Ann Example", "ann@example.com", "07700 900111", Status.NO_SHOW),
            booking(3, "Ann E.", "", "07700900111", Status.CANCELLED),  # phone alone
            booking(4, "Bea", "bea@example.com", "07700 900222", Status.COMPLETED, 2500),
            booking(5, "Erased client", "", "", Status.COMPLETED),  # erased: no client
        ]
    )
    assert [c.name for c in clients] == ["Ann E.", "Ann Example", "Bea"]
    phone_ann, ann = clients[0], clients[1]
    assert [b.id for b in ann.bookings] == ["b_2", "b_1"]
    assert (ann.visits, ann.no_shows, ann.cancellations, ann.spend) == (1, 1, 0, 4000)
    assert ann.id == client_id(client_key("ann@example.com", ""))
    assert ann.keys == ["email:ann@example.com"]
    assert [b.id for b in phone_ann.bookings] == ["b_3"]
    assert phone_ann.keys == ["tel:07700900111:ann e."]


def test_a_phone_shared_by_two_email_clients_stays_its_own_client() -> None:
    clients = group(
        [
            booking(1, "Ann", "ann@example.com", "07700 900111", Status.COMPLETED),
            booking(2, "Bea", "bea@example.com", "07700 900111", Status.COMPLETED),
            booking(3, "Someone", "", "07700 900111", Status.CONFIRMED),
        ]
    )
    assert sorted(len(c.bookings) for c in clients) == [1, 1, 1]
    assert {c.name for c in clients} == {"Ann", "Bea", "Someone"}


def test_two_people_booked_by_phone_with_one_number_are_two_clients() -> None:
    clients = group(
        [
            booking(1, "Mum Example", "", "07700 900111", Status.COMPLETED),
            booking(2, "kid  example", "", "07700900111", Status.COMPLETED),
            booking(3, "Kid Example", "", "07700 900111", Status.CONFIRMED),  # same, recased
        ]
    )
    assert [(c.name, len(c.bookings)) for c in clients] == [
        ("Kid Example", 2),
        ("Mum Example", 1),
    ]


def test_search_finds_the_start_of_a_word_of_the_name_an_address_or_a_number_by_its_end() -> None:
    # The list answers a page at a time from an index (issue 21), so a search finds what one
    # stretch of it holds: no longer the middle of a word or of a number.
    (ann,) = group(
        [booking(1, "Ann Smith-Jones", "Ann@Example.com", "+44 7700 900111", Status.CONFIRMED)]
    )
    found = ("", "ann", "ANN SM", "jones ann", "smith-j", "ann@ex", "ANN@EXAMPLE.COM", "0111",
             "900 111", "+44 7700 900111", "447700900111")  # fmt: skip
    for query in found:
        assert ann.matches(query), query
    for query in ("bea", "nn", "example.com", "7700 900", "+44 7700", "12", "900222", "ann bea"):
        assert not ann.matches(query), query
