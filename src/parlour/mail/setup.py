"""The mail parts a process runs, as its settings describe them: the delivery worker with its
SMTP lanes, and what booking changes need to write their messages. The composition root
(``runtime.py``) calls these; the worker itself is ``mail/delivery.py``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

from parlour.config import Settings
from parlour.links import Links
from parlour.mail.delivery import DeliveryWorker, Retries
from parlour.mail.render import Renderer
from parlour.mail.transport import SmtpTransport
from parlour.services.catalogue import Business
from parlour.services.notices.notifier import MailSetup, NoticePolicy
from parlour.services.outbox.relay import RelayFeatures
from parlour.services.outbox.store import Outbox
from parlour.services.ratelimit import Limiter
from parlour.services.sealing import Sealer

LANES = 2
"""Messages one worker sends at once, each lane on its own SMTP connection."""


def delivery_from_settings(
    settings: Settings,
    outboxes: Sequence[Outbox] | Callable[[], Awaitable[Sequence[Outbox]]],
    limiter: Limiter | None,
    secret: bytes,
    *,
    clock: Callable[[], float] = time.time,
    relay: RelayFeatures | None = None,
    business_of: Callable[[Outbox], Awaitable[Business]] | None = None,
) -> DeliveryWorker:
    """The worker a process runs, as the settings describe it (no SMTP: it only watches).
    ``relay``: the process's own, to hear what the relay offers (else the worker's own)."""
    relay = relay if relay is not None else RelayFeatures()
    transports: list[SmtpTransport] = []
    for _ in range(LANES):
        transport = SmtpTransport.from_settings(settings, relay)
        if transport is not None:
            transports.append(transport)
    return DeliveryWorker(
        outboxes,
        Renderer(settings.mail_from, Sealer(secret).unseal),
        transports,
        retries=Retries(settings.mail_max_attempts, settings.mail_retry_base),
        limiter=limiter,
        clock=clock,
        business_of=business_of,
    )


def mail_setup(settings: Settings, secret: bytes) -> MailSetup:
    """What a process's booking changes need to write their messages."""
    policy = NoticePolicy(
        reminder_before=int(settings.reminder_before),
        staff_alerts_to=settings.staff_alerts_to,
        therapist_alerts=settings.therapist_alerts,
    )
    return MailSetup(Sealer(secret), Links.from_settings(settings), policy)
