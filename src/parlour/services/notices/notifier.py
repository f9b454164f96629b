"""What a booking's events send, and when: the function the booking engine's ``stage`` hook calls.

Every booking command awaits :meth:`Notifier.stage` with its :class:`BookingEvent` and adds the
:class:`Staged` writes to its own ``transact``, so a change commits with its messages or not at
all. What each change sends:

=================  ==========================================================================
booked             the client's confirmation (manage link, .ics, policy); a reminder at
                   ``reminder_before`` unless the booking is already inside that lead; alerts
                   to the business's address and the therapist's
moved              the client's notice with the new .ics; the old reminder cancelled and a new
                   one staged for the new time (at the same time, with another therapist,
                   treatment, name or address: the waiting reminder rewritten); alerts
cancelled          the client's notice (a cancelled .ics); the reminder cancelled; alerts
status             done: an invitation to review (and the reminder, if any, cancelled);
                   no-show: the reminder cancelled; reinstated: a reminder again
=================  ==========================================================================

Only the manage token's hash is stored with the booking, so the booking command's token (known
only when the booking is made) is kept sealed beside it (``k:<booking id>``, under a key derived
from the secret: services/sealing.py) for the later messages: a moved notice a week on carries
the same working link. docs/notifications.md weighs this against signed links.

A reminder's id is derived from its booking and start (``rem_<booking>_<epoch>``), so a later
change finds it without reading anything: cancelled with its booking, replaced when the booking
moves. Only reminders still to come are cancelled; one already due has been (or is being) sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

from parlour.domain.booking import Booking, Status
from parlour.domain.events import Actor, BookingEvent, Change
from parlour.services.accounts import PasswordResetAsked
from parlour.services.bookings.keys import sealed_link_key
from parlour.services.catalogue import Business, CatalogueService
from parlour.services.notices.messages import BookingNotice, Kind, PasswordReset, to_json
from parlour.services.outbox.records import new_message
from parlour.services.outbox.relay import RelayFeatures
from parlour.services.outbox.store import Outbox
from parlour.services.sealing import Sealer
from parlour.services.staged import Staged
from parlour.storage.base import KVStore

DAY = 86400


def reminder_due(
    start: datetime, before_seconds: int, zone: ZoneInfo, now: datetime
) -> datetime | None:
    """When the reminder of a booking starting at ``start`` goes, or ``None`` for none.

    A lead of whole days is read on the business's clock: "24 hours" before 10:00 on the Monday
    after the clocks change is 10:00 on the Sunday, as the client expects, not 09:00 or 11:00.
    Any other lead is plain elapsed time. A wall time the clock skips is moved on by the gap
    (01:30 on the spring night in London is read as 02:30), one it repeats (01:30 on the autumn
    night) as its first occurrence. A booking made inside the lead gets no reminder:
    the confirmation it just had says the same.
    """
    if before_seconds % DAY == 0:
        local = start.astimezone(zone)
        earlier = (local.replace(tzinfo=None) - timedelta(days=before_seconds // DAY)).replace(
            tzinfo=zone, fold=0
        )
        due = earlier.astimezone(UTC)  # PEP 495: a skipped time by the offset before the gap
    else:
        due = start.astimezone(UTC) - timedelta(seconds=before_seconds)
    return due if due > now.astimezone(UTC) else None


def reminder_id(booking: Booking) -> str:
    """The id of the reminder of ``booking`` at its current start."""
    return f"rem_{booking.id}_{int(booking.start.timestamp())}"


class SiteLinks(Protocol):
    """What :class:`parlour.links.Links` gives: absolute links on the configured origin."""

    def manage(self, token: str) -> str: ...

    def absolute(self, path: str) -> str: ...


@dataclass(frozen=True, slots=True)
class NoticePolicy:
    reminder_before: int = DAY
    """Seconds (``PARLOUR_REMINDER_BEFORE``)."""
    staff_alerts_to: str = ""
    """The business's address for staff alerts (``PARLOUR_STAFF_ALERTS_TO``); empty: none."""
    therapist_alerts: bool = True
    """Alert the therapist too, at their resource's e-mail (``PARLOUR_THERAPIST_ALERTS``)."""


_CLIENT_NOTICE = {Change.BOOKED: Kind.CONFIRMATION, Change.MOVED: Kind.MOVED}
_STAFF_ALERT = {
    Change.BOOKED: Kind.STAFF_NEW,
    Change.MOVED: Kind.STAFF_MOVED,
    Change.CANCELLED: Kind.STAFF_CANCELLED,
}


@dataclass(frozen=True, slots=True)
class MailSetup:
    """What a process's :class:`Notifier` is made of besides its stores."""

    sealer: Sealer
    links: SiteLinks
    policy: NoticePolicy
    relay: RelayFeatures = field(default_factory=RelayFeatures)
    """What the process's SMTP relay offers: the worker's transports write it, a booking reads
    it (an address only SMTPUTF8 can carry is refused unless the relay offers it)."""


class Notifier:
    def __init__(
        self,
        store: KVStore,
        catalogue: CatalogueService,
        sealer: Sealer,
        links: SiteLinks,
        policy: NoticePolicy,
    ) -> None:
        self._store = store
        """The bookings namespace: where the sealed manage tokens live."""
        self._catalogue = catalogue
        self._sealer = sealer
        self._links = links
        self.policy = policy

    async def stage(self, event: BookingEvent) -> Staged:
        """The messages ``event`` sends, and the reminders it cancels, to add to its transact."""
        booking, before = event.booking, event.before
        business = await self._catalogue.business()
        change = Change.CANCELLED if booking.status is Status.CANCELLED else event.change
        staged = Staged()
        token = event.token
        if token:
            staged += Staged(writes={sealed_link_key(booking.id): self._sealer.seal(token)})
        else:
            token = await self._token(booking.id)
        link = self._links.manage(token) if token else ""
        sealed = self._seal(link)  # once: the notice and the reminder carry the same link
        when = event.at.timestamp()
        client_kind = _CLIENT_NOTICE.get(change)
        if change is Change.MOVED and before is not None and _same_visit(before, booking):
            client_kind = None  # staff corrected a name or phone: nothing to tell anyone
        if change is Change.CANCELLED and (before is None or before.status is not Status.CANCELLED):
            client_kind = Kind.CANCELLED
        done_before = before is not None and before.status is Status.COMPLETED
        if change is Change.STATUS and booking.status is Status.COMPLETED and not done_before:
            client_kind = Kind.REVIEW_INVITATION
        therapist, therapist_email = await self._therapist(booking.resource_id)
        changed = before if change is Change.MOVED else None
        previous = changed.start if changed and changed.start != booking.start else None
        was_with = ""
        if changed and changed.resource_id != booking.resource_id:
            was_with = (await self._therapist(changed.resource_id))[0]

        def notice(kind: Kind, sealed_link: str) -> BookingNotice:
            if kind is Kind.REMINDER:
                return BookingNotice(kind, business, booking, therapist, sealed_link)
            return BookingNotice(
                kind, business, booking, therapist, sealed_link, previous, was_with
            )

        if client_kind is not None and booking.email:  # a phone client may have given none
            staged += Outbox.stage(
                new_message(
                    client_kind.value,
                    [booking.email],
                    to_json(notice(client_kind, sealed)),
                    now=when,
                    limited=event.by is Actor.CLIENT,
                )
            )
        # A reminder follows the booking's start: the one for where it was goes, and one for
        # where it is now comes, whenever the change leaves it confirmed. A change that keeps the
        # time but not what the reminder says (therapist, treatment, client, address) rewrites
        # the waiting one in place: it would have named the old therapist.
        moved = before is not None and before.start != booking.start
        rewritten = (
            before is not None
            and not moved
            and _reminded(before)
            and _reminded(booking)
            and _reminder_differs(before, booking)
        )
        dropped = before is not None and bool(before.email) and not booking.email
        if before is not None and (moved or not _reminded(booking) or dropped):
            staged += self._cancel_reminder(before, business, event.at)
        if (
            booking.email
            and _reminded(booking)
            and (before is None or not _reminded(before) or moved or rewritten)
        ):
            reminder = notice(Kind.REMINDER, sealed)
            staged += self._reminder(reminder, business, event.at, replace=rewritten)
        alert = _STAFF_ALERT.get(change)
        if change is Change.MOVED and client_kind is None:
            alert = None
        if alert is not None and (change is not Change.CANCELLED or client_kind is not None):
            alerted = self._alerted(therapist_email)
            link_for_staff = f"/admin/bookings/{booking.id}"
            staff_link = self._seal(self._links.absolute(link_for_staff)) if alerted else ""
            for address in alerted:
                staged += Outbox.stage(
                    new_message(
                        alert.value, [address], to_json(notice(alert, staff_link)), now=when
                    )
                )
        return staged

    async def stage_reset(self, asked: PasswordResetAsked) -> Staged:
        """The reset link's message, for the account's own transact (``users`` namespace).
        Not under the mail limits: asking is limited per account and per address instead."""
        link = self._links.absolute(f"/login/reset/{quote(asked.token, safe='')}")
        minutes = round((asked.expires - asked.at) / 60)
        data = PasswordReset(
            await self._catalogue.business(), asked.email, self._seal(link), minutes
        )
        return Outbox.stage(
            new_message(Kind.PASSWORD_RESET.value, [asked.email], to_json(data), now=asked.at)
        )

    def _reminder(
        self, notice: BookingNotice, business: Business, now: datetime, *, replace: bool = False
    ) -> Staged:
        due = reminder_due(
            notice.booking.start, self.policy.reminder_before, business.rules.zone, now
        )
        if due is None:  # inside the lead: none is made, and one made earlier is going
            return Staged()
        message = new_message(
            Kind.REMINDER.value,
            [notice.booking.email],
            to_json(notice),
            now=now.timestamp(),
            due=due.timestamp(),
            message_id=reminder_id(notice.booking),
        )
        return Outbox.stage_replace(message) if replace else Outbox.stage(message)

    def _cancel_reminder(self, before: Booking, business: Business, now: datetime) -> Staged:
        if not _reminded(before):
            return Staged()
        due = reminder_due(before.start, self.policy.reminder_before, business.rules.zone, now)
        if due is None:  # it was never made (inside the lead), or it is sent or going
            return Staged()
        return Outbox.stage_cancel(reminder_id(before), due.timestamp())

    def _alerted(self, therapist_email: str) -> Sequence[str]:
        addresses = [self.policy.staff_alerts_to]
        if self.policy.therapist_alerts:
            addresses.append(therapist_email)
        return list(dict.fromkeys(address for address in addresses if address))

    async def _therapist(self, resource_id: str) -> tuple[str, str]:
        for resource in await self._catalogue.resources():
            if resource.id == resource_id:
                return resource.name, resource.email
        return resource_id, ""

    async def _token(self, booking_id: str) -> str:
        sealed = await self._store.get_item(sealed_link_key(booking_id[:64]))
        return (self._sealer.unseal(sealed) or "") if isinstance(sealed, str) else ""

    def _seal(self, link: str) -> str:
        # An empty link stays empty: the message says to contact the business instead.
        return self._sealer.seal(link) if link else ""


def _reminded(booking: Booking) -> bool:
    return booking.status is Status.CONFIRMED


def _reminder_differs(before: Booking, after: Booking) -> bool:
    """Whether a change at the same time alters what the booking's reminder says or where it
    goes: the visit (therapist, treatment, address) or the client's name."""
    return not _same_visit(before, after) or before.client_name != after.client_name


def _same_visit(before: Booking, after: Booking) -> bool:
    """Whether a change left the visit as the client knows it: time, therapist, treatment and
    the address it is sent to."""
    return (before.start, before.resource_id, before.treatment_id, before.email) == (
        after.start,
        after.resource_id,
        after.treatment_id,
        after.email,
    )
