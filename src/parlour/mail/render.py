"""From a queued message to an e-mail: plain text and HTML from the mail templates (not the web
pages'), times on the business's clock, the .ics attached where the calendar should follow.

Links are sealed in the stored data and opened here, just before the message goes (or is
shown to staff at /admin/outbox), so no rendered link ever sits in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from parlour.mail.addresses import header_address
from parlour.services.calendar_file import calendar_file
from parlour.services.money import money
from parlour.services.notices.messages import (
    WITH_CALENDAR,
    BookingNotice,
    PasswordReset,
    SalonWelcome,
    from_json,
    kind_of,
)
from parlour.services.outbox.records import Message

MISSING_LINK = (
    "(The link could not be included: the server's secret key has changed since this message "
    "was written. Please contact us and we will send it again.)"
)
SUBJECTS = {
    "confirmation": "Booked: {{ booking.treatment_name }}, {{ booking.start | when_short(zone) }}",
    "reminder": "Reminder: {{ booking.treatment_name }}, {{ booking.start | when_short(zone) }}",
    "moved": "Moved: {{ booking.treatment_name }} is now {{ booking.start | when_short(zone) }}",
    "cancelled": "Cancelled: {{ booking.treatment_name }}, {{ booking.start | when_short(zone) }}",
    "review_invitation": "How was your {{ booking.treatment_name }} at {{ business.name }}?",
    "staff_new": "New booking: {{ booking.client_name }}, {{ booking.treatment_name }}, "
    "{{ booking.start | when_short(zone) }}",
    "staff_moved": "Moved: {{ booking.client_name }}, {{ booking.treatment_name }}, now "
    "{{ booking.start | when_short(zone) }}",
    "staff_cancelled": "Cancelled: {{ booking.client_name }}, {{ booking.treatment_name }}, "
    "{{ booking.start | when_short(zone) }}",
    "password_reset": "Reset your staff password at {{ business.name }}",
    "salon_welcome": "Open {{ salon }} on {{ business.name }}: confirm your address",
    "test": "A test message from {{ business.name }}",
}


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    calendar: str | None


def when(instant: datetime, zone: ZoneInfo) -> str:
    """``Tuesday 1 December 2026 at 10:00 (GMT)``: the business's wall clock, with its zone's
    abbreviation, so a client abroad knows which 10:00."""
    local = instant.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M} ({local.tzname()})"


def when_short(instant: datetime, zone: ZoneInfo) -> str:
    local = instant.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b} at {local:%H:%M}"


class Renderer:
    """Built once per process (the templates compile once), never at import time."""

    def __init__(self, sender: str, unseal: Callable[[str], str | None]) -> None:
        self.sender = sender
        self._unseal = unseal
        self._domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
        directory = str(files("parlour.mail").joinpath("templates"))
        self._env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(["html"], default_for_string=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self._env.filters["when"] = when
        self._env.filters["when_short"] = when_short
        self._subjects = {kind: self._env.from_string(text) for kind, text in SUBJECTS.items()}

    def message_id(self, message: Message) -> str:
        """Stable across every attempt, so a receiving server or client can tell a repeat."""
        return f"<{message.message_id}@{self._domain}>"

    def render(self, message: Message) -> Rendered:
        data = from_json(message.data)
        kind = kind_of(data).value
        zone = data.business.rules.zone
        context: dict[str, Any] = {
            "business": data.business,
            "zone": zone,
            "missing": MISSING_LINK,
        }
        calendar = None
        if isinstance(data, BookingNotice):
            link = self._unseal(data.link)
            context |= {
                "booking": data.booking,
                "therapist": data.therapist,
                "link": link,
                "previous_start": data.previous_start,
                "previous_therapist": data.previous_therapist,
                "price": money(data.booking.price, data.business.currency, data.business.locale)
                if data.booking.price
                else "",
            }
            if data.kind in WITH_CALENDAR and link is not None:
                calendar = calendar_file(
                    data.booking, data.business, link, therapist=data.therapist
                )
        elif isinstance(data, PasswordReset):
            context |= {
                "email": data.email,
                "link": self._unseal(data.link),
                "valid_minutes": data.valid_minutes,
            }
        elif isinstance(data, SalonWelcome):
            context |= {
                "email": data.email,
                "salon": data.salon,
                "address": data.address,
                "link": self._unseal(data.link),
                "valid_hours": data.valid_hours,
            }
        else:
            context["sent_by"] = data.sent_by
        subject = " ".join(self._subjects[kind].render(context).split())  # one header line
        context["subject"] = subject
        text = self._env.get_template(f"{kind}.txt").render(context)
        html = self._env.get_template(f"{kind}.html").render(context)
        return Rendered(subject, text, html, calendar)

    def email(self, message: Message) -> EmailMessage:
        """The e-mail to hand to the SMTP server."""
        rendered = self.render(message)
        mail = EmailMessage()
        business = from_json(message.data).business
        address = parseaddr(self.sender)[1]
        mail["From"] = Address(display_name=business.name, addr_spec=address)
        if business.email:  # the salon's own address: a client's answer reaches the salon
            mail["Reply-To"] = header_address(business.email)
        # The domain as its A-label, as in the envelope: readable by every relay and client.
        mail["To"] = ", ".join(header_address(address) for address in message.to)
        mail["Subject"] = rendered.subject
        mail["Date"] = format_datetime(datetime.fromtimestamp(message.created, UTC))
        mail["Message-ID"] = self.message_id(message)
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
        mail.set_content(rendered.text)
        mail.add_alternative(rendered.html, subtype="html")
        if rendered.calendar is not None:
            mail.add_attachment(
                rendered.calendar.encode(),
                maintype="text",
                subtype="calendar",
                filename="booking.ics",
                params={"method": "PUBLISH"},
            )
        return mail
