"""The mail limits as the delivery worker applies them, to messages a public action made.

Per recipient (``PARLOUR_MAIL_RECIPIENT_RATE_LIMIT``): over it, the message is held for staff,
since someone may be using our form against that address. Then the global hourly ceiling
(``PARLOUR_MAIL_GLOBAL_RATE_LIMIT``): over it, the message waits for the window.

With many salons each salon counts in windows of its own (its slug in every key,
``Limiter.scoped``), as its web limits do: one salon's public forms, used against an address or
run up to the hour's ceiling, cannot hold or delay another salon's mail.

Both count messages the server accepted, not attempts. A place is reserved before the send, in
the limit's own atomic step, so that two workers cannot both take an address's last place;
the worker gives it back when the send fails. A place is kept when the server may have the
message (the whole message went and no answer came), and when the worker is stopped or dies
mid-send: the limits err towards sending less, never more.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from parlour.errors import RateLimited, StorageError
from parlour.services.ratelimit import Decision, Identity, Limiter

log = logging.getLogger(__name__)

EVERYONE = Identity("all", "mail")


@dataclass(frozen=True, slots=True)
class Admission:
    """What the limits said to one message: its places, or why it may not go now."""

    places: tuple[Decision, ...] = ()
    held: bool = False
    """The address had its limit: keep the message for staff."""
    wait: float | None = None
    """Seconds until the global ceiling has room again."""

    @property
    def admitted(self) -> bool:
        return not self.held and self.wait is None


class MailLimits:
    def __init__(self, limiter: Limiter | None) -> None:
        self.limiter = limiter
        """``None``: no limits (a process without a rate-limit store, the tests)."""

    async def reserve(self, to: Sequence[str], *, salon: str | None = None) -> Admission:
        """Places for a message to ``to``, in ``salon``'s windows (``None``: the deployment's,
        with one salon)."""
        if self.limiter is None:
            return Admission()
        limiter = self.limiter.scoped(salon) if salon else self.limiter
        recipients = [Identity.email(address) for address in to]
        try:
            mine = await limiter.check("mail_recipient", *recipients)
        except RateLimited:
            return Admission(held=True)
        try:
            everyone = await limiter.check("mail_global", EVERYONE)
        except RateLimited as limited:
            await self.give_back((mine,))
            return Admission(wait=limited.retry_after)
        return Admission(places=(mine, everyone))

    async def give_back(self, places: Sequence[Decision]) -> None:
        """Places a message did not use. Should the store fail, the place stays taken."""
        if self.limiter is None:
            return
        for place in places:
            try:
                await self.limiter.refund(place)
            except StorageError as exc:
                log.warning("delivery: a mail limit's place was not given back: %s", exc)
