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
page and ``parlour ratelimit`` show and clear what blocks a login, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from parlour.errors import RateLimited
from parlour.services.accounts import User, normalise_email
from parlour.web.parts import core, parts
from parlour.web.ratelimit import Decision, Identity, client_address


@dataclass(frozen=True, slots=True)
class Guess:
    """One counted check of a secret, to give back if it succeeds."""

    decisions: tuple[Decision, ...]
    address_key: str


async def count_guess(request: Request, email: str) -> Guess:
    """Count a guess at ``email``'s secrets; raises :class:`RateLimited` having counted none."""
    limiter = parts(request).limiter
    account, address = normalise_email(email), client_address(request)
    address_key = limiter.key_of(Identity.ip(address))
    user = await core(request).accounts.get(account)
    known = user is not None and address_key in user.known_addresses
    local = await limiter.check(
        "login", Identity.ip(address), Identity.account_client(account, address)
    )
    request.state.ratelimit = local
    decisions = [local]
    if not known:
        try:
            decisions.append(await limiter.check("login_account", Identity.account(account)))
        except RateLimited:
            await limiter.refund(local)
            raise
    guess = Guess(tuple(decisions), address_key)
    request.state.guess = guess  # for unchecked(), should the secret never be checked
    return guess


async def guessed_right(request: Request, guess: Guess, user: User | None = None) -> None:
    """The secret was right: the guess counts nowhere, and (with ``user``, after a whole login)
    the address becomes one the account knows."""
    for decision in guess.decisions:
        await parts(request).limiter.refund(decision)
    if user is not None:
        await core(request).accounts.remember_address(user, guess.address_key)


async def unchecked(request: Request) -> None:
    """The request's secret was never checked (the hashing pool turned it away): its guess, if
    one was counted, counts nowhere."""
    guess = getattr(request.state, "guess", None)
    if isinstance(guess, Guess):
        request.state.guess = None
        await guessed_right(request, guess)


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
            for policy in ("login", "booking", "review")
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
