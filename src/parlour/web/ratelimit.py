"""Rate limits on HTTP: the limiter (``services/ratelimit.py``) applied to a request, and the
headers that tell a client where it stands.

    decision = await enforce(request, "booking", Identity.email(form.email))

counts the client's address and ``identities`` and remembers the decision, so that
``RateLimitHeaders`` (``web/middleware/ratelimit_headers.py``) writes its ``RateLimit`` headers
on the response.
"""

from __future__ import annotations

from starlette.requests import Request

from parlour.services.ratelimit import Decision, Identity
from parlour.web.clientip import client_ip
from parlour.web.parts import parts


async def enforce(request: Request, policy: str, *identities: Identity) -> Decision:
    """Apply ``policy`` to the client's address and ``identities``; remember the decision so
    the response carries its RateLimit headers. Raises :class:`RateLimited`."""
    limiter = parts(request).limiter
    address = Identity.ip(client_address(request))
    if limiter.platform is not None:  # one salon of many: the address across all of them too
        await limiter.platform.check("platform", address)
    decision = await limiter.check(policy, address, *identities)
    request.state.ratelimit = decision
    return decision


async def give_back(request: Request, decision: Decision) -> None:
    """Return an admission ``enforce`` counted: the request turned out not to be what the
    policy counts (a booking form that booked nothing new)."""
    await parts(request).limiter.refund(decision)


def client_address(request: Request) -> str:
    """The client's address, believing ``X-Forwarded-For`` only from trusted proxies."""
    peer = request.client.host if request.client else None
    forwarded = ",".join(request.headers.getlist("x-forwarded-for")) or None
    return client_ip(peer, forwarded, parts(request).settings.trusted_proxies)


def decision_headers(decision: Decision) -> dict[str, str]:
    rate = decision.policy.rate
    if decision.verdict is None:
        return rate_limit_headers(decision.policy.name, rate.limit, rate.window)
    verdict = decision.verdict
    return rate_limit_headers(
        decision.policy.name, rate.limit, rate.window, verdict.remaining, verdict.reset
    )


def rate_limit_headers(
    name: str, limit: int, window: float, remaining: int | None = None, reset: float = 0.0
) -> dict[str, str]:
    """``RateLimit-Policy`` and ``RateLimit`` per the IETF httpapi ratelimit-headers draft."""
    headers = {"RateLimit-Policy": f'"{name}";q={limit};w={window:.0f}'}
    if remaining is not None:
        headers["RateLimit"] = f'"{name}";r={remaining};t={whole_seconds(reset)}'
    return headers


def whole_seconds(seconds: float) -> int:
    """Rounded up: a client told to come back must not come back early. A millisecond of slack
    absorbs float noise: ``(now + 900) - now`` on a large clock reading is 900.0000000002, which
    is a window of 900 s, not 901."""
    return max(0, int(-(-(seconds - 0.001) // 1)))
