"""An iCalendar (RFC 5545) file for one booking, so a client can add it to their calendar."""

from __future__ import annotations

from datetime import UTC, datetime

from parlour.domain.booking import Booking, Status
from parlour.services.catalogue import Business


def _text(value: str) -> str:
    """Escape a TEXT value: backslash, semicolon, comma and newlines."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space."""
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    parts: list[str] = []
    start = 0
    while start < len(encoded):
        end = min(start + (75 if not parts else 74), len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:
            end -= 1  # never split a UTF-8 character
        parts.append(encoded[start:end].decode())
        start = end
    return "\r\n ".join(parts)


def _stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar_file(booking: Booking, business: Business, link: str) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Parlour//Booking//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{booking.id}@parlour",
        f"DTSTAMP:{_stamp(booking.created_at)}",
        f"DTSTART:{_stamp(booking.start)}",
        f"DTEND:{_stamp(booking.end)}",
        f"SUMMARY:{_text(f'{booking.treatment_name} at {business.name}')}",
        f"DESCRIPTION:{_text(f'See, move or cancel your booking: {link}')}",
        f"URL:{link}",
        f"STATUS:{'CANCELLED' if booking.status is Status.CANCELLED else 'CONFIRMED'}",
    ]
    if business.address:
        lines.append(f"LOCATION:{_text(business.address)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
