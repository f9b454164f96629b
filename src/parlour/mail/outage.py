"""The worker's pause while the SMTP server is in trouble, and the probes that end it.

When the server itself fails (it refuses connections, hangs, refuses the login, fails TLS,
closes with 421), every message offered meanwhile would fail the same way, each spending an
attempt (and, before a refund, a place under the mail limits). So a worker offers none while
paused. Instead it probes the server with what a send does before its first message command
(connect, greet, TLS, log in, NOOP, QUIT): :data:`PROBE_FIRST` after the failure, then twice
as long each time up to :data:`PROBE_EVERY`, and resumes at the first probe answered.

A pause of fixed length (it was 5 s doubling to 5 minutes) kept mail waiting up to 5 minutes
after a long outage ended; probing bounds that wait by :data:`PROBE_EVERY` and one probe's
round trips, while a server that stays down costs one connection attempt every few seconds.
"""

from __future__ import annotations

PROBE_FIRST = 1.0
PROBE_EVERY = 5.0
"""The longest between two probes: mail resumes within this (and one probe's round trips) of
the server answering again (docs/notifications.md)."""


class Outage:
    """Whether the worker is paused, and when it probes next (on the worker's clock)."""

    def __init__(self) -> None:
        self.since: float | None = None
        """When the pause began; ``None``: not paused."""
        self.next_probe = 0.0
        self._interval = PROBE_FIRST

    @property
    def paused(self) -> bool:
        return self.since is not None

    def begin(self, now: float) -> None:
        """The server failed: pause (a pause under way goes on as it was)."""
        if self.since is None:
            self.since = now
            self._interval = PROBE_FIRST
            self.next_probe = now + PROBE_FIRST

    def probe_due(self, now: float) -> bool:
        return self.since is not None and now >= self.next_probe

    def probed(self, answered: bool, now: float) -> None:
        if answered:
            self.since = None
            return
        self._interval = min(PROBE_EVERY, self._interval * 2)
        self.next_probe = now + self._interval
