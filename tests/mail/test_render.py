"""Every message renders from typed data alone: plain text and HTML, the business's clock and
contact, the .ics where the calendar should follow, and links opened only when sent."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import BookingRules
from parlour.mail.render import MISSING_LINK, Renderer
from parlour.services.catalogue import Business
from parlour.services.notices.messages import (
    BookingNotice,
    Kind,
    PasswordReset,
    ProbeMessage,
    SalonWelcome,
    from_json,
    to_json,
)
from parlour.services.outbox.records import Message, new_message
from parlour.services.sealing import Sealer

SEALER = Sealer(b"k" * 48)
BUSINESS = Business(
    name="Willow & Rose",
    address="12 Mill Lane, Bath",
    phone="01225 000111",
    rules=BookingRules(timezone="Europe/London", cancel_cutoff_hours=24),
)
MANAGE = "https://book.example.com/booking/tok3n-tok3n-tok3n-tok3n"


def booking(start: datetime, status: Status = Status.CONFIRMED) -> Booking:
    return Booking(
        id="b_1",
        treatment_id="t1",
        treatment_name="Hot stone massage",
        resource_id="r1",
        start=start,
        duration=90,
        buffer_before=0,
        buffer_after=0,
        price=9500,
        client_name="Ada <script>alert(1)</script>",
        email="ada@example.com",
        phone="07700 900123",
        status=status,
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
        token_hash="x" * 64,
    )


def notice(kind: Kind, start: datetime, **extra: object) -> BookingNotice:
    status = Status.CANCELLED if kind in (Kind.CANCELLED, Kind.STAFF_CANCELLED) else None
    return BookingNotice(
        kind=kind,
        business=BUSINESS,
        booking=booking(start, status or Status.CONFIRMED),
        therapist="Maya",
        link=SEALER.seal(MANAGE),
        **extra,  # type: ignore[arg-type]
    )


def queued(kind: Kind, start: datetime, to: str = "ada@example.com") -> Message:
    return new_message("x", [to], to_json(notice(kind, start)), now=1.8e9)


MONDAY = datetime(2026, 3, 30, 9, tzinfo=UTC)


def renderer() -> Renderer:
    return Renderer("Bookings <bookings@willow.example>", SEALER.unseal)


ALL = [
    *(notice(kind, datetime(2026, 3, 30, 9, tzinfo=UTC)) for kind in sorted(Kind) if kind not in
      (Kind.PASSWORD_RESET, Kind.SALON_WELCOME, Kind.TEST)),
    PasswordReset(BUSINESS, "staff@willow.example", SEALER.seal("https://x/reset/abc"), 30),
    SalonWelcome(BUSINESS, "ana@example.com", "Ana <script>", "https://ana.example.net",
                 SEALER.seal("https://example.net/signup/confirm/abc"), 24),
    ProbeMessage(BUSINESS, "parlour mail test"),
]  # fmt: skip


@pytest.mark.parametrize("data", ALL, ids=lambda d: str(getattr(d, "kind", type(d).__name__)))
def test_every_message_has_text_html_and_the_business(data: object) -> None:
    message = new_message("x", ["ada@example.com"], to_json(data), now=1.8e9)  # type: ignore[arg-type]
    assert from_json(message.data) == data
    rendered = renderer().render(message)
    for body in (rendered.text, rendered.html):
        assert "Willow" in body
        assert "12 Mill Lane, Bath" in body
        assert "01225 000111" in body
    assert "\n" not in rendered.subject
    assert "<script>" not in rendered.html  # the client's name is escaped in HTML
    assert "&lt;script&gt;" in rendered.html or "Ada" not in rendered.text
    assert "{{" not in rendered.text + rendered.html


def test_times_are_on_the_business_clock_across_a_clock_change() -> None:
    before = renderer().render(queued(Kind.REMINDER, datetime(2026, 3, 28, 10, tzinfo=UTC)))
    after = renderer().render(queued(Kind.REMINDER, MONDAY))
    assert "Saturday 28 March 2026 at 10:00 (GMT)" in before.text
    assert "Monday 30 March 2026 at 10:00 (BST)" in after.text


def test_the_confirmation_carries_the_link_and_the_calendar() -> None:
    message = queued(Kind.CONFIRMATION, MONDAY)
    mail = renderer().email(message)
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert parsed["Message-ID"] == renderer().email(message)["Message-ID"]  # stable
    assert parsed["Message-ID"].endswith("@willow.example>")
    assert "Willow & Rose" in parsed["From"]
    assert "bookings@willow.example" in parsed["From"]
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert MANAGE in text
    assert MANAGE in html
    assert "until 24 hours before" in text
    (ics,) = [
        part for part in parsed.iter_attachments() if part.get_content_type() == "text/calendar"
    ]
    body = ics.get_content()
    assert "DTSTART:20260330T090000Z" in body
    assert "STATUS:CONFIRMED" in body


def test_the_calendar_entry_names_the_therapist() -> None:  # issue 24, defect 11
    calendar = renderer().render(queued(Kind.CONFIRMATION, MONDAY)).calendar or ""
    assert "with Maya at Willow & Rose" in calendar


def test_a_cancellation_sends_a_cancelled_calendar_entry() -> None:
    message = queued(Kind.CANCELLED, MONDAY)
    assert "STATUS:CANCELLED" in (renderer().render(message).calendar or "")


def test_a_link_sealed_under_another_secret_is_left_out_and_said_so() -> None:
    data = notice(Kind.REMINDER, datetime(2026, 3, 30, 9, tzinfo=UTC))
    message = new_message("x", ["a@x"], to_json(data), now=0)
    other = Renderer("b@willow.example", Sealer(b"another secret entirely, 32+ chars").unseal)
    rendered = other.render(message)
    assert MANAGE not in rendered.text
    assert MISSING_LINK in rendered.text


def test_a_sealed_link_reveals_nothing_and_resists_tampering() -> None:
    sealed = SEALER.seal(MANAGE)
    assert "tok3n" not in sealed
    assert SEALER.unseal(sealed) == MANAGE
    assert SEALER.unseal(sealed[:-4] + "AAAA") is None


def test_answers_go_to_the_salons_own_address() -> None:
    # Many salons send from one platform address; each salon's name is the sender's name and
    # its own address, where it has given one, takes the client's answer.
    message = queued(Kind.CONFIRMATION, MONDAY)
    assert "Reply-To" not in renderer().email(message)
    data = replace(
        notice(Kind.CONFIRMATION, MONDAY), business=replace(BUSINESS, email="desk@wíllow.example")
    )
    mail = renderer().email(new_message("x", ["ada@example.com"], to_json(data), now=1.8e9))
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert parsed["Reply-To"] == "desk@xn--wllow-zsa.example"
    assert "Willow & Rose" in parsed["From"]
