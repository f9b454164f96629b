"""CSRF protection for every unsafe request.

- Browsers: ``Sec-Fetch-Site: cross-site`` is refused, and ``Origin`` (else ``Referer``) must be
  the public origin. Clients that send neither (scripts, API clients) are judged by cookies alone.
- A request that carries Parlour's cookies must prove it came from Parlour's own page: a token in
  the ``csrf_token`` form field or the ``X-CSRF-Token`` header. Logged-in staff have a secret
  per session (rotated with the session id). Anonymous visitors filling a public form get a
  secret in a cookie signed with the app key (the signed double-submit pattern), so a public
  form is protected without storing anything for them. A request with no cookies at all has no
  ambient authority to abuse, and needs no token.
- Tokens are masked with fresh random bytes on every render (BREACH), and compared in constant
  time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from markupsafe import Markup
from starlette.requests import Request, cookie_parser

from parlour.config import Settings
from parlour.errors import CsrfRejected
from parlour.tokens import b64decode, b64encode, xor
from parlour.web.middleware.sessions import Session, cookie, cookie_names, is_secure
from parlour.web.parts import SALON_PARTS, parts

FIELD = "csrf_token"
HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SECRET_BYTES = 32


def mask(secret: str) -> str:
    """A token for ``secret`` that differs on every call."""
    raw = b64decode(secret) or b""
    pad = secrets.token_bytes(len(raw))
    return b64encode(pad + xor(pad, raw))


def unmask(token: str) -> bytes | None:
    if len(token) > 200:
        return None
    raw = b64decode(token)
    if raw is None or len(raw) != 2 * _SECRET_BYTES:
        return None
    return xor(raw[:_SECRET_BYTES], raw[_SECRET_BYTES:])


def _signed(nonce: str, key: bytes) -> str:
    return b64encode(hmac.new(key, b"csrf\0" + nonce.encode(), hashlib.sha256).digest())


def _anonymous_secret(cookie_value: str | None, key: bytes) -> str | None:
    """The nonce in a well-formed, correctly signed anonymous CSRF cookie."""
    if not cookie_value or cookie_value.count(".") != 1:
        return None
    nonce, signature = cookie_value.split(".")
    if not hmac.compare_digest(signature, _signed(nonce, key)):
        return None
    return nonce


def _cookies(request: Request) -> tuple[str | None, str | None, bool]:
    secure = is_secure(_settings(request), request.scope)
    session_name, csrf_name = cookie_names(secure)
    jar = cookie_parser(request.headers.get("cookie", ""))
    return jar.get(session_name), jar.get(csrf_name), secure


def _settings(request: Request) -> Settings:
    return parts(request).settings


def token(request: Request) -> str:
    """A fresh masked token for a form on this page.

    Needs the session loaded first (``render`` does that). For an anonymous visitor it reuses
    the CSRF cookie, or makes one that the response will set.
    """
    session: Session = request.state.session
    if session.record is not None:
        return mask(session.record.csrf)
    key = parts(request).secret_key
    _, csrf_cookie, secure = _cookies(request)
    nonce = getattr(request.state, "csrf_nonce", None) or _anonymous_secret(csrf_cookie, key)
    if nonce is None:
        nonce = b64encode(secrets.token_bytes(_SECRET_BYTES))
        request.state.csrf_nonce = nonce
        _, name = cookie_names(secure)
        request.state.csrf_cookie = cookie(
            name, f"{nonce}.{_signed(nonce, key)}", max_age=7 * 86400, secure=secure
        )
    return mask(nonce)


def hidden_input(request: Request) -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, token(request))


def _expected_origin(request: Request) -> str:
    configured = _settings(request).public_origin
    if configured and SALON_PARTS in request.scope:
        # One salon of many: PARLOUR_PUBLIC_ORIGIN names the bare platform domain, and the
        # salon's own pages are at the host SalonHosts resolved to this salon (its scheme and
        # port are the configured ones; another salon's host is another origin).
        scheme = urlsplit(configured).scheme
        return f"{scheme}://{request.headers.get('host', '')}".lower()
    if configured:
        return configured
    return f"{request.url.scheme}://{request.headers.get('host', '')}".lower()


def _same_origin(request: Request) -> bool:
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    expected = _expected_origin(request)
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() == expected
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == expected
    return True


async def verify_csrf(request: Request, form_token: str = "") -> None:
    """Refuse an unsafe request that may be forged (raises ``CsrfRejected``).

    ``form_token`` is the form's ``csrf_token`` field; the ``X-CSRF-Token`` header wins.
    """
    if request.method not in UNSAFE:
        return
    if not _same_origin(request):
        raise CsrfRejected("the request came from another site")
    session_cookie, csrf_cookie, _ = _cookies(request)
    if session_cookie is None and csrf_cookie is None:
        return
    submitted = request.headers.get(HEADER) or form_token
    presented = unmask(submitted) if submitted else None
    if presented is None:
        raise CsrfRejected("the form's security token is missing or malformed")
    session: Session = request.state.session
    record = await session.load() if session_cookie else None
    if record is not None:
        expected = b64decode(record.csrf)
    else:
        nonce = _anonymous_secret(csrf_cookie, parts(request).secret_key)
        expected = None if nonce is None else b64decode(nonce)
    if expected is None or not hmac.compare_digest(presented, expected):
        raise CsrfRejected("the form's security token does not match")
