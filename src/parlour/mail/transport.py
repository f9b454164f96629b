"""SMTP through aiosmtplib, configured by ``PARLOUR_SMTP_URL``.

``smtp://user:password@host:587`` speaks plain SMTP and upgrades with STARTTLS whenever the
server offers it; ``smtps://user:password@host:465`` speaks TLS from the first byte. A private
CA goes in the query: ``?cafile=/etc/ssl/our-ca.pem``. The password is never printed: every
description and every error says the URL with ``********`` in its place.

Time is bounded on purpose: each command waits at most ``PARLOUR_SMTP_TIMEOUT`` seconds, and a
whole message at most :attr:`SmtpTransport.deadline`, so a server that accepts the connection
and never answers costs a bounded wait, then a retry later.

How answers are judged (RFC 5321): a 4xx to MAIL, RCPT or DATA is "try again later"; a 5xx
there is "never", and the message is dead. Trouble before a message is even offered
(connecting, TLS, the greeting, logging in) is the server's or the configuration's, not the
message's: it is retried, and tells the worker to stop offering other messages for a while.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from parlour.config import Settings, mask_url_password
from parlour.errors import ConfigurationError, ParlourError

IDLE_REUSE = 5.0
"""Seconds a connection may sit unused and still be reused; servers drop idle ones, and a
message offered on a dropped connection would be a failed attempt for nothing."""


class DeliveryFailed(ParlourError):
    """A message was not accepted. ``permanent``: the server said never (5xx to the message);
    ``server_trouble``: the server or its configuration failed, not this message."""

    def __init__(self, reason: str, *, permanent: bool, server_trouble: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.server_trouble = server_trouble


@dataclass(frozen=True, slots=True)
class SmtpAddress:
    """Where and how to reach the server, parsed once from the URL."""

    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    cafile: str | None
    shown: str
    """The URL with its password masked: the only form that is ever printed."""

    @classmethod
    def parse(cls, url: str) -> SmtpAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigurationError(
                "PARLOUR_SMTP_URL must be smtp://user:password@host:587 or "
                "smtps://user:password@host:465"
            )
        implicit = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            implicit_tls=implicit,
            cafile=query["cafile"][0] if "cafile" in query else None,
            shown=mask_url_password(url),
        )


class SmtpTransport:
    """One connection to one SMTP server, reused while messages keep coming.

    Not safe for concurrent sends: a worker holds one and sends one message at a time.
    """

    def __init__(self, address: SmtpAddress, sender: str, *, timeout: float) -> None:
        self.address = address
        self.sender = sender
        self.envelope_sender = parseaddr(sender)[1]
        self.timeout = timeout
        self.deadline = timeout * 6
        """The most one message may take, connecting and logging in included."""
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport | None:
        """The configured transport, or ``None`` when no SMTP server is configured."""
        if not settings.smtp_url:
            return None
        return cls(
            SmtpAddress.parse(settings.smtp_url), settings.mail_from, timeout=settings.smtp_timeout
        )

    def describe(self) -> str:
        return f"SMTP {self.address.shown}"

    async def send(self, message: EmailMessage, recipients: list[str]) -> None:
        """Hand ``message`` to the server; return once it has accepted it (250 to DATA).

        Raises :class:`DeliveryFailed`; after any failure the connection is dropped, since its
        state is unknown.
        """
        try:
            async with asyncio.timeout(self.deadline):
                client = await self._connected()
                await client.send_message(
                    message, sender=self.envelope_sender, recipients=recipients
                )
        except BaseException as exc:
            self._drop()
            if isinstance(exc, Exception):
                raise self._judge(exc) from exc
            raise
        self._last_used = time.monotonic()

    async def check(self) -> None:
        """Connect, greet, upgrade, log in and say goodbye: what ``parlour check`` runs."""
        try:
            async with asyncio.timeout(self.deadline):
                client = await self._connected()
                await client.noop()
        except Exception as exc:
            raise self._judge(exc) from exc
        finally:
            await self.close()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            async with asyncio.timeout(self.timeout):
                await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def _connected(self) -> aiosmtplib.SMTP:
        client = self._client
        if client is not None and client.is_connected:
            if time.monotonic() - self._last_used < IDLE_REUSE:
                return client
            await self.close()
        address = self.address
        context = None
        if address.cafile is not None:
            context = ssl.create_default_context(cafile=address.cafile)
        client = aiosmtplib.SMTP(
            hostname=address.host,
            port=address.port,
            username=address.username,
            password=address.password,
            use_tls=address.implicit_tls,
            start_tls=None if not address.implicit_tls else False,  # None: when offered
            tls_context=context,
            timeout=self.timeout,
            # Named here: the default asks the resolver for this host's name, blocking the loop.
            local_hostname=self.envelope_sender.rpartition("@")[2] or "localhost",
        )
        await client.connect()
        self._client = client
        return client

    def _judge(self, exc: Exception) -> DeliveryFailed:
        where = self.address.shown
        permanent, trouble = False, True
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            reason = f"{where} refused the recipient: {text}"
            permanent = all(500 <= refused.code < 600 for refused in exc.recipients)
            trouble = False
        elif isinstance(exc, aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPDataError):
            what = "the sender" if isinstance(exc, aiosmtplib.SMTPSenderRefused) else "the message"
            reason = f"{where} refused {what}: {exc.code} {exc.message}"
            permanent, trouble = 500 <= exc.code < 600, False
        elif isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            reason = (
                f"{where} refused the login: {exc.code} {exc.message}; check the user and "
                "password in PARLOUR_SMTP_URL"
            )
        elif isinstance(exc, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors too
            reason = f"{where} did not answer within {self.timeout:g} s"
        elif isinstance(exc, aiosmtplib.SMTPResponseException):
            reason = f"{where} answered {exc.code} {exc.message}"
        elif isinstance(exc, aiosmtplib.SMTPException | OSError | ssl.SSLError):
            reason = f"{where} could not be reached: {exc}"
        else:
            reason = f"{where}: {type(exc).__name__}: {exc}"
        return DeliveryFailed(reason, permanent=permanent, server_trouble=trouble)
