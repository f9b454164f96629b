"""Throttling password guesses without locking the owner out.

Every check of a secret (the password at login, the second factor, the current password on the
password form) is counted before it is made and given back when it succeeds, so only failures
count:

- ``login`` per client address (``PARLOUR_LOGIN_RATE_LIMIT``, 10 per 15 minutes): one address
  cannot guess at many accounts;
- ``login`` per account *from that address*: an attacker's failures from elsewhere never block
  the owner's own address, and a right password from an address with no failures gets in;
- ``login_account`` per account from every address it has not logged in from before
  (``PARLOUR_LOGIN_ACCOUNT_RATE_LIMIT``, 100 a day): a slow brake on guessing spread over many
  addresses, which the account's known addresses (its last ten successful logins) never meet.

:func:`windows` lists exactly these for an e-mail address and/or a client address, so the admin
page and ``parlour ratelimit`` show and clear what blocks a login, and nothing else. The web
applies the throttle to requests in ``web/login_throttle.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from parlour.errors import RateLimited
from parlour.services.accounts import AccountService, User, normalise_email
from parlour.services.ratelimit import Decision, Identity, Limiter


@dataclass(frozen=True, slots=True)
class Guess:
    """One counted check of a secret, to give back if it succeeds."""

    decisions: tuple[Decision, ...]
    address_key: str


class LoginThrottle:
    def __init__(self, limiter: Limiter, accounts: AccountService) -> None:
        self._limiter = limiter
        self._accounts = accounts

    async def count(
        self, email: str, address: str, *, note: Callable[[Decision], None] | None = None
    ) -> Guess:
        """Count a guess at ``email``'s secrets from ``address``; raises :class:`RateLimited`
        having counted none. ``note`` hears the per-address decision as soon as it is made
        (its headers answer the request even when the account's own limit then refuses)."""
        limiter = self._limiter
        account = normalise_email(email)
        address_key = limiter.key_of(Identity.ip(address))
        user = await self._accounts.get(account)
        known = user is not None and address_key in user.known_addresses
        local = await limiter.check(
            "login", Identity.ip(address), Identity.account_client(account, address)
        )
        if note is not None:
            note(local)
        decisions = [local]
        if not known:
            try:
                decisions.append(await limiter.check("login_account", Identity.account(account)))
            except RateLimited:
                await limiter.refund(local)
                raise
        return Guess(tuple(decisions), address_key)

    async def guessed_right(self, guess: Guess, user: User | None = None) -> None:
        """The secret was right: the guess counts nowhere, and (with ``user``, after a whole
        login) the address becomes one the account knows."""
        for decision in guess.decisions:
            await self._limiter.refund(decision)
        if user is not None:
            await self._accounts.remember_address(user, guess.address_key)


@dataclass(frozen=True, slots=True)
class Window:
    label: str
    policy: str
    identity: Identity


def windows(email: str, address: str) -> list[Window]:
    """Every window that counts ``email`` (an account, or a client booking) or ``address``."""
    found = []
    if email.strip():
        account = normalise_email(email)
        found += [
            Window(
                "login, this account from addresses it does not know",
                "login_account",
                Identity.account(account),
            ),
            Window("booking, this e-mail address", "booking", Identity.email(email)),
        ]
    if address.strip():
        found += [
            Window(f"{policy}, this address", policy, Identity.ip(address))
            for policy in ("login", "booking", "booking_attempt", "review")
        ]
    if email.strip() and address.strip():
        found.append(
            Window(
                "login, this account from this address",
                "login",
                Identity.account_client(normalise_email(email), address),
            )
        )
    return found
