"""An iCalendar (RFC 5545) file for one booking, so a client can add it to their calendar.

Text values are escaped as RFC 5545 3.3.11 says (backslash, semicolon, comma, and every line
break, CR included, as ``\\n``), and any other control character is dropped: TEXT may not hold
one, and a raw CR or LF in a name would start a property of the attacker's choosing. (Input
refuses them too; this holds for records written before it did.)

A calendar that imported the file recognises a later one as the same event by ``UID`` and as
newer by ``SEQUENCE``; ``DTSTAMP`` and ``LAST-MODIFIED`` are the booking's last revision, so a
moved or cancelled booking gives a file that replaces the old event, and an unchanged one gives
the same file every time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from parlour.domain.booking import Booking, Status
from parlour.services.catalogue import Business

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # every Cc but TAB; breaks are gone by then


def _text(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return _CONTROL.sub("", _LINE_BREAK.sub("\\\\n", escaped))


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
    """The booking as a calendar file; ``link`` is its manage link (from ``Links``)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Parlour//Booking//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{_text(booking.id)}@parlour",
        f"SEQUENCE:{booking.sequence}",
        f"DTSTAMP:{_stamp(booking.last_modified)}",
        f"CREATED:{_stamp(booking.created_at)}",
        f"LAST-MODIFIED:{_stamp(booking.last_modified)}",
        f"DTSTART:{_stamp(booking.start)}",
        f"DTEND:{_stamp(booking.end)}",
        f"SUMMARY:{_text(f'{booking.treatment_name} at {business.name}')}",
        f"DESCRIPTION:{_text(f'See, move or cancel your booking: {link}')}",
        f"URL:{_CONTROL.sub('', _LINE_BREAK.sub('', link))}",
        f"STATUS:{'CANCELLED' if booking.status is Status.CANCELLED else 'CONFIRMED'}",
    ]
    if business.address:
        lines.append(f"LOCATION:{_text(business.address)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
