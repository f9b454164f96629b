"""An audit entry in words for the log's page: what was done, and each value that changed, before
and after, as a person reads it (names with their accents, prices as money, times on the salon's
clock), never the stored JSON.

Pure: the entry, the salon's zone, currency and names in; sentences out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from parlour.services.audit import AuditEntry
from parlour.services.money import money
from parlour.storage.base import JSON

ACTIONS: dict[str, str] = {
    "2fa.disable": "turned two-factor off",
    "2fa.enable": "turned two-factor on",
    "2fa.start": "began setting up two-factor",
    "account.password": "changed their password",
    "account.password_reset": "set a new password with a reset link",
    "booking.create": "made a booking",
    "booking.link": "made a new manage link for a booking",
    "booking.move": "moved a booking",
    "booking.status": "changed a booking's status",
    "business.save": "changed the business details",
    "client.erase": "erased a client's details",
    "client.export": "exported a client's data",
    "client.note": "added a note to a client",
    "client.note_remove": "removed a note from a client",
    "outbox.retry": "queued a message to be sent again",
    "photo.add": "added a photo to the gallery",
    "photo.caption": "changed a photo in the gallery",
    "ratelimit.clear": "cleared rate-limit windows",
    "resource.save": "saved a therapist or room",
    "review.moderate": "moderated a review",
    "session.end": "ended a session",
    "session.end_all": "logged out everywhere",
    "session.end_others": "ended their other sessions",
    "treatment.save": "saved a treatment",
    "user.active": "switched a staff account off or on",
    "user.create": "created a staff account",
    "user.end_sessions": "ended every session of a staff account",
    "user.role": "changed a staff account's role",
}
"""What each action is, in words (anything else: its name with spaces)."""

LABELS: dict[str, str] = {
    "resource_id": "therapist or room",
    "resource_ids": "therapists and rooms",
    "treatment_id": "treatment",
    "client_name": "client",
    "treatment_name": "treatment name",
    "buffer_before": "minutes kept free before",
    "buffer_after": "minutes kept free after",
    "duration": "minutes",
}

_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_MONEY_FIELDS = frozenset({"price", "deposit"})


@dataclass(frozen=True, slots=True)
class Change:
    label: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class Described:
    entry: AuditEntry
    when: str
    what: str
    target: str
    """What it was done to: a treatment's, therapist's or room's name rather than its id."""
    changes: list[Change]


@dataclass(frozen=True, slots=True)
class Words:
    """What turns stored values into words: the salon's clock, money and names."""

    zone: ZoneInfo
    currency: str
    locale: str
    names: Mapping[str, str]
    """Ids of therapists, rooms and treatments, with their names."""

    def describe(self, entry: AuditEntry) -> Described:
        when = datetime.fromtimestamp(entry.at, self.zone).strftime("%a %-d %b %Y, %H:%M %Z")
        what = ACTIONS.get(entry.action, entry.action.replace(".", " ").replace("_", " "))
        target = self.names.get(entry.target, entry.target)
        return Described(entry, when, what, target, self.changes(entry.before, entry.after))

    def changes(self, before: JSON, after: JSON) -> list[Change]:
        """Each value that differs, in words; for a creation or removal, each one given."""
        if not isinstance(before, dict) and not isinstance(after, dict):
            if before == after:
                return []
            return [Change("", self.value("", before), self.value("", after))]
        old = before if isinstance(before, dict) else ({} if before is None else {"": before})
        new = after if isinstance(after, dict) else ({} if after is None else {"": after})
        found = []
        for name in dict.fromkeys([*old, *new]):
            was, now = old.get(name), new.get(name)
            if was == now or (was in (None, "", [], {}) and now in (None, "", [], {})):
                continue
            found.append(Change(self.label(name), self.value(name, was), self.value(name, now)))
        return found

    @staticmethod
    def label(name: str) -> str:
        return LABELS.get(name, name.replace("_", " "))

    def value(self, name: str, value: JSON) -> str:
        if isinstance(value, bool) or value in (None, "", [], {}):
            return ("yes" if value else "no") if isinstance(value, bool) else "(none)"
        if isinstance(value, int) and name in _MONEY_FIELDS:
            return money(value, self.currency, self.locale)
        if isinstance(value, str):
            return self._text(name, value)
        if isinstance(value, list):
            return ", ".join(self.value(name.removesuffix("s"), item) for item in value)
        if isinstance(value, dict):
            return "; ".join(
                f"{self.label(key)}: {self.value(key, item)}" for key, item in value.items()
            )
        return str(value)

    def _text(self, name: str, value: str) -> str:
        """A string as stored, but an instant on the salon's clock and an id by its name."""
        if _INSTANT.match(value):
            try:
                instant = datetime.fromisoformat(value)
            except ValueError:
                return value
            if instant.tzinfo is not None:
                return instant.astimezone(self.zone).strftime("%a %-d %b %Y, %H:%M")
        return self.names.get(value, value) if name.endswith("_id") else value
