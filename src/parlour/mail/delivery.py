"""The delivery worker: one in every ``parlour serve`` process, or alone in ``parlour worker``.

It wakes when a queue shard changes (a new message, from any instance: the storage layer's
change events) and on a timer for the next message that falls due, never by polling in a loop.
Each pass reads what is due, takes each message under a lease (one worker at a time, renewed
while its send runs: mail/leases.py), sends it, then marks it sent at once. The windows in
which a message can still go twice are listed, each with its test, in docs/notifications.md.

A 4xx is retried after a backoff that doubles with jitter; a 5xx, an address the relay cannot
take, or the last attempt, makes the message dead, listed at /admin/outbox with a retry button.
When the server itself is in trouble (refused, hung, bad login) the worker offers no message
until a probe finds it answering again (mail/outage.py), instead of failing each in turn.

The mail limits (mail/limits.py) count messages the server accepted: a place is reserved
before the send and given back when it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace

from parlour.errors import StorageError
from parlour.mail.leases import LeaseKeeper
from parlour.mail.limits import Admission, MailLimits
from parlour.mail.outage import Outage
from parlour.mail.render import Renderer
from parlour.mail.transport import DeliveryFailed, SmtpTransport
from parlour.services.catalogue import Business, business_to_json
from parlour.services.notices.messages import Kind
from parlour.services.outbox.keys import QUEUE_PREFIXES
from parlour.services.outbox.queue import Due
from parlour.services.outbox.records import Message, State, backoff
from parlour.services.outbox.relay import RelayFeatures
from parlour.services.outbox.store import TAKE_AT_ONCE, Outbox
from parlour.services.ratelimit import Limiter
from parlour.storage.base import split_namespace
from parlour.storage.events import ChangeKind, Subscription

log = logging.getLogger(__name__)

MAX_IDLE = 60.0
FAIR_SHARE = 20
"""With many salons: the most messages one outbox offers per pass (they are taken in turns)."""
"""The longest a worker sleeps without looking, should an event have been lost."""
TIDY_EVERY = 600.0
COALESCE = 0.01
WATCH_COALESCE = 1.0
"""With no SMTP server a worker only watches (the outbox's figures in /metrics): a burst of
changes makes one pass a second at most, not one per booking."""


@dataclass(slots=True)
class DeliveryStats:
    """What /metrics reports; per process, counted by this worker."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    held: int = 0
    deferred: int = 0
    """Waited for the global hourly ceiling."""
    pauses: int = 0
    """Times the server's trouble paused the worker."""
    probes: int = 0
    """Probes of the server while paused (answered or not)."""
    due: int = 0
    """Messages due and not sent, at the last pass (every instance's queue, not just ours)."""
    oldest_due: float | None = None
    """When the oldest of those fell due."""


@dataclass(frozen=True, slots=True)
class Retries:
    max_attempts: int
    base: float


class DeliveryWorker:
    def __init__(
        self,
        outboxes: Sequence[Outbox] | Callable[[], Awaitable[Sequence[Outbox]]],
        renderer: Renderer,
        transports: Sequence[SmtpTransport],
        *,
        retries: Retries,
        limiter: Limiter | None = None,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
        business_of: Callable[[Outbox], Awaitable[Business]] | None = None,
    ) -> None:
        self._source = None if isinstance(outboxes, Sequence) else outboxes
        """Many salons: where the current outboxes come from (salons sign up while it runs)."""
        self.outboxes: list[Outbox] = list(outboxes) if isinstance(outboxes, Sequence) else []
        self.renderer = renderer
        self.transports = list(transports)
        """One per concurrent send; empty: no SMTP configured, messages stay in the outbox."""
        self.retries = retries
        self.limits = MailLimits(limiter)
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.stats = DeliveryStats()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.outage = Outage()
        self._tidied = 0.0
        self._listeners: dict[str, asyncio.Task[None]] = {}
        self.passes = 0
        """Passes made: how often the worker looked (a test of no polling storms reads it)."""
        self.business_of = business_of
        """The business details an outbox's salon gives today (from the composition root): a
        reminder is sent with them, not with those of the day it was queued, weeks before."""

    @property
    def lease_seconds(self) -> float:
        """Longer than a send takes up to its DATA; renewed while the send waits longer."""
        longest = max((t.deadline for t in self.transports), default=60.0)
        return longest * 1.5 + 2.0

    @property
    def relay(self) -> RelayFeatures | None:
        """What the SMTP relay offers, as the transports last heard it (shared by them)."""
        return self.transports[0].relay if self.transports else None

    # -- running --------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"delivery {self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stopping = True
        self._wake.set()
        if task is not None:
            # First let the messages in flight finish and be marked: cancelling between the
            # server's 250 and the mark would widen the window in which a message goes twice.
            await asyncio.wait({task}, timeout=self.lease_seconds)
            # Then cancel until it ends: a client library may turn one cancellation into a
            # connection error that the worker treats as "try again soon".
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for transport in self.transports:
            await transport.close()

    def poke(self) -> None:
        """Look now (a test's clock moved; an admin pressed retry)."""
        self._wake.set()

    async def _run(self) -> None:
        await self._probe_relay()
        async with AsyncExitStack() as stack:
            listeners = self._listeners
            for outbox in self.outboxes:
                subscription = await self._subscribe(stack, outbox)
                listeners[outbox.store.namespace] = asyncio.create_task(
                    self._listen(subscription, outbox)
                )
            try:
                while not self._stopping:
                    self._wake.clear()
                    next_look = await self._safe_pass()
                    delay = min(MAX_IDLE, max(0.0, next_look - self.clock()))
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._wake.wait()
                            # A burst of changes (200 bookings, or another worker marking
                            # what it sent) makes one pass, not one pass per change.
                            await asyncio.sleep(COALESCE if self.transports else WATCH_COALESCE)
            finally:
                for listener in listeners.values():
                    listener.cancel()
                await asyncio.gather(*listeners.values(), return_exceptions=True)
                listeners.clear()

    async def _current_outboxes(self) -> list[Outbox]:
        """The outboxes to look in; from the source (many salons), each newly seen one heard
        from through its change feed while the worker runs."""
        if self._source is None:
            return self.outboxes
        self.outboxes = list(await self._source())
        if self._task is not None and not self._stopping:
            for outbox in self.outboxes:
                name = outbox.store.namespace
                if name not in self._listeners:
                    self._listeners[name] = asyncio.create_task(self._follow(outbox))
        return self.outboxes

    async def _follow(self, outbox: Outbox) -> None:
        async with AsyncExitStack() as stack:
            await self._listen(await self._subscribe(stack, outbox), outbox)

    async def _subscribe(self, stack: AsyncExitStack, outbox: Outbox) -> Subscription | None:
        try:
            return await stack.enter_async_context(outbox.store.subscribe(QUEUE_PREFIXES))
        except StorageError as exc:  # the timer still finds what is due
            log.warning("delivery: no change events from %s yet: %s", outbox.namespace, exc)
            return None

    async def _listen(self, subscription: Subscription | None, outbox: Outbox) -> None:
        if subscription is None:
            return
        async for event in subscription:
            if event.kind is ChangeKind.RESYNC or outbox.is_queue_change(event.key):
                self._wake.set()

    async def _probe_relay(self) -> None:
        """Ask the relay what it offers before the first booking needs to know (SMTPUTF8)."""
        if not self.transports:
            return
        try:
            await self.transports[0].check()
        except DeliveryFailed as failure:  # the first send will find out and pause
            log.warning("delivery: the SMTP server did not answer at start: %s", failure.reason)

    async def _probe_server(self) -> None:
        """While paused: has the server come back?"""
        self.stats.probes += 1
        try:
            await self.transports[0].check()
        except DeliveryFailed as failure:
            self.outage.probed(False, self.clock())
            log.debug("delivery: the SMTP server is still not answering: %s", failure.reason)
        else:
            log.info("delivery: the SMTP server answers again; sending resumes")
            self.outage.probed(True, self.clock())

    async def _safe_pass(self) -> float:
        try:
            return await self.run_once()
        except StorageError as exc:
            log.warning("delivery: the store did not answer, trying again soon: %s", exc)
            return self.clock() + 2.0

    # -- one pass ---------------------------------------------------------------------------

    async def run_once(self) -> float:
        """Send what is due now; return when to look again."""
        self.passes += 1
        now = self.clock()
        next_look = now + MAX_IDLE
        outboxes = await self._current_outboxes()
        # Many salons: each outbox offers a fair share per pass, taken in turns, so one salon's
        # 10,000 reminders hold another's confirmation back by at most a share each
        # (docs/tenancy.md states the bound; bench/tenancy.py measures it).
        take = TAKE_AT_ONCE if self._source is None else FAIR_SHARE
        shares: list[list[tuple[Outbox, Due]]] = []
        due_count, oldest = 0, None
        for outbox in outboxes:
            scan = await outbox.scan(now)
            next_look = min(next_look, scan.next_due)
            due_count += len(scan.due)
            if scan.due:
                oldest = min(oldest or scan.due[0].due, scan.due[0].due)
                share = [(outbox, entry) for entry in scan.due[:take]]
                random.shuffle(share)  # instances sharing a queue start on different messages
                shares.append(share)
        work = [item for turn in itertools.zip_longest(*shares) for item in turn if item]
        self.stats.due, self.stats.oldest_due = due_count, oldest
        if now - self._tidied > TIDY_EVERY:
            self._tidied = now
            for outbox in outboxes:
                await outbox.tidy(now)
        if not self.transports or not work:
            return next_look
        if self.outage.probe_due(now):
            await self._probe_server()
        if self.outage.paused:
            return min(next_look, self.outage.next_probe)
        pending = asyncio.Queue[tuple[Outbox, Due]]()
        for item in work:
            pending.put_nowait(item)
        looks = await asyncio.gather(
            *(self._lane(transport, pending) for transport in self.transports)
        )
        next_look = min(next_look, *looks)
        if self.outage.paused:
            return min(next_look, self.outage.next_probe)
        full = any(len(share) >= take for share in shares)
        return min(next_look, self.clock() + (1.0 if full else MAX_IDLE))

    async def _lane(
        self, transport: SmtpTransport, pending: asyncio.Queue[tuple[Outbox, Due]]
    ) -> float:
        """Send from ``pending`` until it is empty; the earliest time another worker's lease
        on one of them runs out (it may have died: look again then)."""
        look = self.clock() + MAX_IDLE
        while not pending.empty() and not self._stopping and not self.outage.paused:
            outbox, entry = pending.get_nowait()
            look = min(look, await self._deliver(transport, outbox, entry))
        return look

    async def _deliver(self, transport: SmtpTransport, outbox: Outbox, entry: Due) -> float:
        now = self.clock()
        later = now + MAX_IDLE
        leased = await outbox.lease(entry, self.name, now, self.lease_seconds)
        if leased is None:
            return later  # gone, or another worker took it just now
        if not leased.leased_by(self.name, now):
            held = leased.state is State.PENDING and leased.lease_until > now
            return leased.lease_until if held else later
        admission = (
            await self.limits.reserve(leased.to, salon=split_namespace(outbox.store.namespace)[1])
            if leased.limited
            else Admission()
        )
        if not admission.admitted:
            await self._not_admitted(outbox, leased, admission)
            return later
        try:
            email = self.renderer.email(await self._as_today(outbox, leased))
        except Exception as exc:  # a message that cannot render never will: say so, do not loop
            log.exception("delivery: message %s cannot be rendered", leased.id)
            await self.limits.give_back(admission.places)
            await outbox.set_aside(leased, State.DEAD, f"could not be rendered: {exc}")
            self.stats.dead += 1
            return later
        lease = LeaseKeeper(outbox, leased, self.lease_seconds, self.clock)
        try:
            async with lease:
                await transport.send(email, list(leased.to))
        except DeliveryFailed as failure:
            if not failure.maybe_accepted:  # it counts only once the server has it
                await self.limits.give_back(admission.places)
            await self._failed(outbox, lease.current, failure)
            return later
        # The window: the server has accepted the message; until this mark is written, a
        # crash would let another worker send it again once the lease runs out.
        await self._mark_sent(outbox, lease.current)
        return later

    async def _as_today(self, outbox: Outbox, leased: Message) -> Message:
        """A reminder with the salon's business details as they are now (a salon that moved or
        changed its phone since the booking); anything else, or with the store not answering,
        as it was queued."""
        if self.business_of is None or leased.kind != Kind.REMINDER.value:
            return leased
        try:
            business = await self.business_of(outbox)
        except StorageError as exc:
            log.warning(
                "delivery: %s goes with the business details it was queued with: %s", leased.id, exc
            )
            return leased
        return replace(leased, data={**leased.data, "business": business_to_json(business)})

    async def _mark_sent(self, outbox: Outbox, leased: Message) -> None:
        delay = 0.1
        while True:
            try:
                await outbox.mark_sent(leased, self.clock())
            except StorageError as exc:
                # Keep trying while the lease holds: giving up now would send it twice.
                if self.clock() + delay >= leased.lease_until:
                    log.error("delivery: %s was sent but could not be marked: %s", leased.id, exc)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            else:
                self.stats.sent += 1
                log.info("delivery: sent %s (%s)", leased.id, leased.kind)
                return

    async def _failed(self, outbox: Outbox, leased: Message, failure: DeliveryFailed) -> None:
        attempts = leased.attempts + 1
        if failure.permanent or attempts >= self.retries.max_attempts:
            why = failure.reason if failure.permanent else f"{attempts} attempts; {failure.reason}"
            await outbox.set_aside(leased, State.DEAD, why)
            self.stats.dead += 1
            log.warning("delivery: %s is dead: %s", leased.id, why)
        else:
            wait = backoff(attempts, self.retries.base)
            await outbox.retry_later(leased, failure.reason, self.clock() + wait)
            self.stats.retried += 1
            log.warning("delivery: %s retried in %.0f s: %s", leased.id, wait, failure.reason)
        if failure.maybe_accepted:
            log.warning("delivery: %s may reach its recipient twice", leased.id)
        if failure.server_trouble and not self.outage.paused:
            self.outage.begin(self.clock())
            self.stats.pauses += 1
            log.warning("delivery: paused until the SMTP server answers a probe")

    async def _not_admitted(self, outbox: Outbox, leased: Message, admission: Admission) -> None:
        if admission.held:
            why = "held: this address was sent its limit of messages this hour"
            await outbox.set_aside(leased, State.HELD, why)
            self.stats.held += 1
            log.warning("delivery: %s %s (rate limit mail_recipient)", leased.id, why)
            return
        wait = admission.wait or 0.0
        due = self.clock() + wait
        await outbox.retry_later(leased, "waiting for the hourly ceiling", due, count=False)
        self.stats.deferred += 1
        log.warning("delivery: %s waits %.0f s for the global ceiling", leased.id, wait)
