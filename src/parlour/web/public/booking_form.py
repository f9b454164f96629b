"""What the public booking form remembers for its visitor, without storing anything for them.

- The details a client typed, kept for a few minutes in a signed cookie of their own browser
  when their time was taken: the form answers with a redirect (so Back never asks to send it
  again), and the alternatives it offers open a details form already filled in. The cookie is
  dropped once a booking is made, and lives ten minutes at most: a salon's tablet must not hand
  one client's details to the next.
- The idempotency key of a booking: derived from the visitor's own CSRF cookie (or staff
  session) and the booking's treatment, time, name and e-mail address, so a form sent again,
  even from a page fetched anew by Back (with a new key in it), finds the booking it made
  instead of calling it "just taken". Nobody else can derive it: it needs the visitor's cookie
  and the app's secret key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime

from starlette.requests import Request, cookie_parser
from starlette.responses import Response

from parlour.tokens import b64decode, b64encode
from parlour.web.middleware.sessions import cookie, cookie_names, is_secure
from parlour.web.parts import parts

KEPT = ("name", "email", "phone")
_MAX_AGE = 600
_PATH_NAME = "parlour_booking_details"


def _name(request: Request) -> str:
    secure = is_secure(parts(request).settings, request.scope)
    return f"__Host-{_PATH_NAME}" if secure else _PATH_NAME


def _signature(payload: str, key: bytes) -> str:
    return b64encode(hmac.new(key, b"details\0" + payload.encode(), hashlib.sha256).digest())


def keep_details(request: Request, response: Response, fields: Mapping[str, str]) -> None:
    """Remember the typed details on ``response`` for the next details form."""
    payload = b64encode(json.dumps({k: fields.get(k, "")[:300] for k in KEPT}).encode())
    value = f"{payload}.{_signature(payload, parts(request).secret_key)}"
    secure = is_secure(parts(request).settings, request.scope)
    response.headers.append(
        "set-cookie", cookie(_name(request), value, max_age=_MAX_AGE, secure=secure)
    )


def forget_details(request: Request, response: Response) -> None:
    if _name(request) in request.cookies:
        secure = is_secure(parts(request).settings, request.scope)
        response.headers.append("set-cookie", cookie(_name(request), "", max_age=0, secure=secure))


def kept_details(request: Request) -> dict[str, str]:
    """The details kept by :func:`keep_details`, or none if absent or tampered with."""
    value = request.cookies.get(_name(request), "")
    if value.count(".") != 1:
        return {}
    payload, signature = value.split(".")
    if not hmac.compare_digest(signature, _signature(payload, parts(request).secret_key)):
        return {}
    try:
        data = json.loads(b64decode(payload) or b"")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: str(data.get(k, ""))[:300] for k in KEPT}


def booking_key(request: Request, treatment: str, start: datetime, name: str, email: str) -> str:
    """The idempotency key of this visitor's booking of ``treatment`` at ``start`` for this
    person, or ``""`` for a visitor without cookies (the form's own key serves them)."""
    session_name, csrf_name = cookie_names(is_secure(parts(request).settings, request.scope))
    jar = cookie_parser(request.headers.get("cookie", ""))
    visitor = jar.get(csrf_name) or jar.get(session_name)
    if not visitor:
        return ""
    person = (" ".join(name.split()).casefold(), email.strip().casefold())  # as the engine compares
    what = "\0".join((visitor, treatment, start.astimezone(UTC).isoformat(), *person))
    digest = hmac.new(parts(request).secret_key, b"booking\0" + what.encode(), hashlib.sha256)
    return "v:" + digest.hexdigest()
