"""An iCalendar (RFC 5545) file for one booking, so a client can add it to their calendar.

``icalendar`` writes the file: it escapes TEXT values (RFC 5545 3.3.11) and folds lines at 75
octets without splitting a character. Before that, every line break (CR, LF or CRLF) becomes
one ``\\n`` and any other control character is dropped: TEXT may not hold one, and a raw CR or
LF in a name would start a property of the attacker's choosing. (Input refuses them too; this
holds for records written before it did.)

A calendar that imported the file recognises a later one as the same event by ``UID`` and as
newer by ``SEQUENCE``; ``DTSTAMP`` and ``LAST-MODIFIED`` are the booking's last revision, so a
moved or cancelled booking gives a file that replaces the old event, and an unchanged one gives
the same file every time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from icalendar import Calendar, Event, vText, vUri

from parlour.domain.booking import Booking, Status
from parlour.services.catalogue import Business

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # every Cc but TAB; breaks are gone by then


def _text(value: str) -> vText:
    return vText(_CONTROL.sub("", _LINE_BREAK.sub("\n", value)))


def _utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(microsecond=0)


def calendar_file(booking: Booking, business: Business, link: str, *, therapist: str = "") -> str:
    """The booking as a calendar file; ``link`` is its manage link (from ``Links``),
    ``therapist`` the name of who it is with, if known."""
    event = Event()
    event.add("UID", _text(f"{booking.id}@parlour"))
    event.add("SEQUENCE", booking.sequence)
    event.add("DTSTAMP", _utc(booking.last_modified))
    event.add("CREATED", _utc(booking.created_at))
    event.add("LAST-MODIFIED", _utc(booking.last_modified))
    event.add("DTSTART", _utc(booking.start))
    event.add("DTEND", _utc(booking.end))
    with_whom = f" with {therapist}" if therapist else ""
    event.add("SUMMARY", _text(f"{booking.treatment_name}{with_whom} at {business.name}"))
    event.add(
        "DESCRIPTION",
        _text(f"{booking.treatment_name}{with_whom}. See, move or cancel your booking: {link}"),
    )
    event.add("URL", vUri(_CONTROL.sub("", _LINE_BREAK.sub("", link))))
    event.add("STATUS", "CANCELLED" if booking.status is Status.CANCELLED else "CONFIRMED")
    if business.address:
        event.add("LOCATION", _text(business.address))
    calendar = Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//Parlour//Booking//EN")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", "PUBLISH")
    calendar.add_component(event)
    written: bytes = calendar.to_ical()
    return written.decode()
