"""The login throttle (``services/login_throttle.py``) applied to requests: a guess is counted
against the client's address, its decision answers with RateLimit headers, and a guess whose
secret was never checked is given back."""

from __future__ import annotations

from starlette.requests import Request

from parlour.services.accounts import User
from parlour.services.login_throttle import Guess, LoginThrottle
from parlour.services.ratelimit import Decision, Identity
from parlour.web.parts import core, parts
from parlour.web.ratelimit import client_address


def _throttle(request: Request) -> LoginThrottle:
    return LoginThrottle(parts(request).limiter, core(request).accounts)


async def count_guess(request: Request, email: str) -> Guess:
    """Count a guess at ``email``'s secrets; raises :class:`RateLimited` having counted none."""

    def note(decision: Decision) -> None:
        request.state.ratelimit = decision

    address = client_address(request)
    platform = parts(request).limiter.platform
    if platform is not None:  # one salon of many: the address's tries across all of them too
        await platform.check("platform", Identity.ip(address))
    guess = await _throttle(request).count(email, address, note=note)
    request.state.guess = guess  # for unchecked(), should the secret never be checked
    return guess


async def guessed_right(request: Request, guess: Guess, user: User | None = None) -> None:
    """The secret was right: the guess counts nowhere, and (with ``user``, after a whole login)
    the address becomes one the account knows."""
    await _throttle(request).guessed_right(guess, user)


async def unchecked(request: Request) -> None:
    """The request's secret was never checked (the hashing pool turned it away): its guess, if
    one was counted, counts nowhere."""
    guess = getattr(request.state, "guess", None)
    if isinstance(guess, Guess):
        request.state.guess = None
        await guessed_right(request, guess)
