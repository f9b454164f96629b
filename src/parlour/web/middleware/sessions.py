"""Sessions as a pure ASGI middleware.

Each request gets a :class:`Session` that holds the id from its cookie and nothing else until a
route asks for it: public pages never touch the store, so they keep working while Redis is down
and an anonymous visitor's page view writes nothing. The middleware commits what the route
changed just before the response starts, and sets or clears the cookie. If that commit fails,
the client gets a 503 instead of a response that claims a change which did not happen.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from typing import Literal

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parlour.config import Settings
from parlour.errors import StorageUnavailable
from parlour.services.accounts import User
from parlour.services.sessions import (
    CredentialsChanged,
    SessionRecord,
    SessionService,
    new_csrf_secret,
    storage_key,
)
from parlour.web.clientip import client_ip
from parlour.web.parts import SALON_PARTS

log = logging.getLogger(__name__)

CookieAction = Literal["set", "clear"] | None


class Session:
    """The session of one request: read on first use, changed in memory, committed once."""

    def __init__(self, service: SessionService, session_id: str | None, ip: str, agent: str):
        self.service = service
        self.id = session_id
        self.ip = ip
        self.agent = agent
        self._record: SessionRecord | None = None
        self._loaded = False
        self._modified = False
        self._started: SessionRecord | None = None
        self._ended = False

    @property
    def has_cookie(self) -> bool:
        return self.id is not None

    async def load(self) -> SessionRecord | None:
        """The live session, or ``None``. Raises ``StorageUnavailable`` if the store is down."""
        if not self._loaded:
            record = await self.service.load(self.id) if self.id else None
            self._loaded = True
            now = self.service.clock()
            if record is not None and now - record.seen >= self.service.seen_resolution:
                record = replace(record, seen=now, ip=self.ip, agent=self.agent)
                self._modified = True
            self._record = record
        return self._started or self._record

    @property
    def record(self) -> SessionRecord | None:
        """What :meth:`load` returned (``None`` before it was called)."""
        return self._started or self._record

    @property
    def key(self) -> str | None:
        """The storage key of the current session (never the id itself)."""
        return storage_key(self.id) if self.id and self._record else None

    def start(self, user: User) -> None:
        """Log ``user`` in: at commit, the old session is destroyed and a new id issued, with a
        new CSRF secret. Also used after a change of password, role or second factor, with the
        account as that change left it (its new credentials version)."""
        now = self.service.clock()
        self._started = SessionRecord(
            user_id=user.id,
            email=user.email,
            role=user.role,
            csrf=new_csrf_secret(),
            created=now,
            seen=now,
            ip=self.ip,
            agent=self.agent,
            version=user.credentials_version,
            two_factor=user.two_factor,
        )

    def follow(self, user: User) -> None:
        """Keep this session (its id and CSRF secret) across a change that ended the account's
        other sessions: it takes the account's new credentials version."""
        if self._record is not None and self._started is None:
            self._record = replace(self._record, version=user.credentials_version)
            self._modified = True

    def end(self) -> None:
        """Log out: the session is deleted on the server at commit."""
        self._ended = True
        self._started = None

    def flash(self, message: str) -> None:
        """A one-line message for the next page this session sees."""
        if self._started is not None:
            self._started = replace(self._started, flash=message)
        elif self._record is not None:
            self._record = replace(self._record, flash=message)
            self._modified = True

    def pop_flash(self) -> str:
        record = self.record
        if record is None or not record.flash:
            return ""
        self.flash("")
        return record.flash

    async def commit(self) -> tuple[CookieAction, str]:
        """Write what changed; returns what to do with the cookie, and its new value."""
        if self._ended:
            if self.id:
                await self.service.destroy(self.id)
            return ("clear", "") if self.id else (None, "")
        if self._started is not None:
            return await self._rotate(self._started)
        if self._modified and self._record is not None and self.id:
            if not await self.service.save(self.id, self._record):
                return "clear", ""  # ended meanwhile (a logout elsewhere): it stays ended
            return None, ""
        if self.id and self._loaded and self._record is None:
            return "clear", ""  # a cookie for a session that does not exist: forget it
        return None, ""

    async def _rotate(self, record: SessionRecord) -> tuple[CookieAction, str]:
        try:
            return "set", await self.service.rotate(self.id, record)
        except CredentialsChanged:
            return "clear", ""  # the account changed while this login was checked


def cookie_names(secure: bool) -> tuple[str, str]:
    """(session cookie, anonymous CSRF cookie); ``__Host-`` pins them to this exact origin."""
    if secure:
        return "__Host-parlour_session", "__Host-parlour_csrf"
    return "parlour_session", "parlour_csrf"


def is_secure(settings: Settings, scope: Scope) -> bool:
    return settings.secure_cookies or scope.get("scheme") == "https"


def cookie(name: str, value: str, *, max_age: int, secure: bool) -> str:
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


@functools.lru_cache(maxsize=256)  # per request, and most requests come from a few browsers
def describe_agent(agent: str) -> str:
    """ "Firefox on Linux": enough for a person to recognise their own devices."""
    browser = next(
        (name for token, name in _BROWSERS if token in agent), "Unknown browser" if agent else ""
    )
    system = next((name for token, name in _SYSTEMS if token in agent), "")
    return f"{browser} on {system}" if browser and system else browser or "Unknown device"


_BROWSERS = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
]
_SYSTEMS = [
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
]


class SessionMiddleware:
    def __init__(self, app: ASGIApp, *, service: SessionService, settings: Settings) -> None:
        self.app = app
        self.service = service
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        secure = is_secure(self.settings, scope)
        session_name, _ = cookie_names(secure)
        cookies = cookie_parser(headers.get("cookie", ""))
        peer = scope["client"][0] if scope.get("client") else None
        forwarded = ",".join(headers.getlist("x-forwarded-for")) or None
        ip = client_ip(peer, forwarded, self.settings.trusted_proxies)
        agent = describe_agent(headers.get("user-agent", "")[:512])
        salon = scope.get(SALON_PARTS)  # many salons: each has its own sessions
        service = self.service if salon is None else salon.sessions
        session = Session(service, cookies.get(session_name) or None, ip, agent)
        scope.setdefault("state", {})["session"] = session
        replaced = False

        async def send_committed(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                try:
                    action, value = await session.commit()
                except StorageUnavailable as exc:
                    log.warning("session not saved, answering 503: %s", exc)
                    replaced = True
                    await _unavailable(send)
                    return
                response_headers = MutableHeaders(scope=message)
                max_age = int(self.settings.session_absolute_timeout)
                if action == "set":
                    response_headers.append(
                        "set-cookie", cookie(session_name, value, max_age=max_age, secure=secure)
                    )
                elif action == "clear":
                    response_headers.append(
                        "set-cookie", cookie(session_name, "", max_age=0, secure=secure)
                    )
                anonymous_csrf = scope["state"].get("csrf_cookie")
                if anonymous_csrf is not None:
                    response_headers.append("set-cookie", anonymous_csrf)
            await send(message)

        await self.app(scope, receive, send_committed)


async def _unavailable(send: Send) -> None:
    body = (
        b"Parlour cannot reach its session store right now, so nothing was changed. "
        b"Please try again in a moment.\n"
    )
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"retry-after", b"5"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
