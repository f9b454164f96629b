"""The limiter: named policies applied to private identities, with an outage policy each.

    decision = await limiter.check("booking", Identity.email(form.email), Identity.ip(address))

``check`` admits and counts the request against every identity, or raises
:class:`~parlour.errors.RateLimited` having counted nothing. When the store is unavailable a
policy that fails open admits (logged and counted in :attr:`Limiter.outages`) and one that fails
closed raises ``StorageUnavailable``; neither waits longer than the store's deadline.

The web (``web/ratelimit.py``) applies it to requests and writes its headers; the delivery
worker (``mail/limits.py``) and ``parlour ratelimit`` use it directly.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from parlour.config import Rate, Settings
from parlour.domain.addresses import mailbox
from parlour.errors import RateLimited, StorageUnavailable
from parlour.storage.ratelimit import RateLimitStore, Verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    rate: Rate
    fail_open: bool


def policies_from(settings: Settings) -> dict[str, Policy]:
    return {
        "booking": Policy(
            "booking", settings.booking_rate_limit, settings.booking_rate_limit_outage == "open"
        ),
        # Every try at the public booking form, made or not, per address: what stops a flood
        # once "booking" counts only the bookings made (a try that lost its time, or a form
        # sent again, is given back). Ten times the bookings allowed, in the same window.
        "booking_attempt": Policy(
            "booking_attempt",
            Rate(settings.booking_rate_limit.limit * 10, settings.booking_rate_limit.window),
            settings.booking_rate_limit_outage == "open",
        ),
        "login": Policy(
            "login", settings.login_rate_limit, settings.login_rate_limit_outage == "open"
        ),
        "login_account": Policy(
            "login_account",
            settings.login_account_rate_limit,
            settings.login_rate_limit_outage == "open",
        ),
        "review": Policy(
            "review", settings.review_rate_limit, settings.review_rate_limit_outage == "open"
        ),
        # Like logins: a reset is a way into an account, so it is refused rather than unlimited.
        "password_reset": Policy(
            "password_reset",
            settings.password_reset_rate_limit,
            settings.login_rate_limit_outage == "open",
        ),
        # Sign-up mails an address a stranger typed: refused, like a reset, rather than unlimited.
        "signup": Policy(
            "signup", settings.signup_rate_limit, settings.login_rate_limit_outage == "open"
        ),
        # Mail fails open: a confirmation not sent because Redis blinked would be worse.
        "mail_recipient": Policy("mail_recipient", settings.mail_recipient_rate_limit, True),
        "mail_global": Policy("mail_global", settings.mail_global_rate_limit, True),
        # Many salons: one address's limited actions across all of them (fails open like the
        # booking limit; each salon's own limits still hold).
        "platform": Policy("platform", settings.platform_rate_limit, True),
    }


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a limit counts against. Only a keyed hash of ``value`` ever reaches the store."""

    kind: str
    value: str

    @classmethod
    def email(cls, address: str) -> Identity:
        """One identity per mailbox, however it is written (:func:`mailbox`)."""
        return cls("email", mailbox(address))

    @classmethod
    def ip(cls, address: str) -> Identity:
        """IPv4 as is; IPv6 by its /64, which one client can change at will."""
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return cls("ip", address.strip())
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                return cls("ip", str(ip.ipv4_mapped))
            return cls("ip", str(ipaddress.ip_network(f"{ip}/64", strict=False)))
        return cls("ip", str(ip))

    @classmethod
    def account(cls, user_id: str) -> Identity:
        return cls("account", user_id)

    @classmethod
    def account_client(cls, account: str, address: str) -> Identity:
        """One account from one client address (IPv6: its /64)."""
        return cls("account_ip", f"{account}\0{cls.ip(address).value}")

    @classmethod
    def link(cls, token_hash: str) -> Identity:
        return cls("link", token_hash)

    def key(self, secret: bytes) -> str:
        digest = hmac.new(secret, f"{self.kind}\0{self.value}".encode(), hashlib.sha256)
        return f"{self.kind}:{digest.hexdigest()[:32]}"


@dataclass(frozen=True, slots=True)
class Decision:
    policy: Policy
    keys: tuple[str, ...]
    verdict: Verdict | None
    """``None`` when the store was unavailable and the policy failed open."""


class Limiter:
    def __init__(
        self, store: RateLimitStore, policies: Mapping[str, Policy], secret: bytes
    ) -> None:
        self.store = store
        self.policies = dict(policies)
        self._secret = secret
        self.outages: Counter[str] = Counter()
        self.decisions: Counter[tuple[str, str]] = Counter()
        """(policy, outcome) -> count, outcome one of admitted, refused, failed_open."""
        self.salon = ""
        """The salon whose windows these are (``scoped``): its slug starts every key."""
        self.platform: Limiter | None = None
        """A salon's limiter's deployment-wide one (the ``platform`` policy), else ``None``."""

    def scoped(self, salon: str) -> Limiter:
        """The same limits for one salon of many: its own windows (its slug in every key), its
        decisions counted with the rest, and :attr:`platform` the deployment's limiter."""
        limiter = Limiter(self.store, self.policies, self._secret)
        limiter.outages, limiter.decisions = self.outages, self.decisions
        limiter.salon, limiter.platform = salon, self
        return limiter

    def _keys(self, identities: tuple[Identity, ...]) -> tuple[str, ...]:
        return tuple(sorted({self.key_of(identity) for identity in identities}))

    async def check(self, policy_name: str, *identities: Identity) -> Decision:
        """Admit and count, or raise :class:`RateLimited` having counted nothing."""
        policy = self.policies[policy_name]
        keys = self._keys(identities)
        try:
            verdict = await self.store.hit(policy.name, keys, policy.rate.limit, policy.rate.window)
        except StorageUnavailable as exc:
            if not policy.fail_open:
                self.decisions[policy.name, "refused_outage"] += 1
                raise
            self.outages[policy.name] += 1
            self.decisions[policy.name, "failed_open"] += 1
            log.warning("rate limit %r admitted without a decision: %s", policy.name, exc)
            return Decision(policy, keys, None)
        if not verdict.allowed:
            self.decisions[policy.name, "refused"] += 1
            raise RateLimited(
                policy.name, verdict.retry_after, limit=policy.rate.limit, window=policy.rate.window
            )
        self.decisions[policy.name, "admitted"] += 1
        return Decision(policy, keys, verdict)

    async def refund(self, decision: Decision) -> None:
        """Give back an admission (a login that succeeded does not count as a failure)."""
        if decision.verdict is not None:
            await self.store.refund(decision.policy.name, decision.keys, decision.verdict.token)

    def key_of(self, identity: Identity) -> str:
        """The private key ``identity`` counts under (what an account remembers of an address)."""
        key = identity.key(self._secret)
        return f"{self.salon}/{key}" if self.salon else key

    async def peek(self, policy_name: str, identity: Identity) -> Verdict:
        """The window of one identity, counting nothing."""
        policy = self.policies[policy_name]
        keys = self._keys((identity,))
        return await self.store.hit(
            policy.name, keys, policy.rate.limit, policy.rate.window, record=False
        )

    async def clear(self, policy_name: str, identity: Identity) -> None:
        await self.store.clear(self.policies[policy_name].name, self._keys((identity,)))
