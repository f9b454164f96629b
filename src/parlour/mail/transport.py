"""SMTP through aiosmtplib, configured by ``PARLOUR_SMTP_URL``.

``smtp://user:password@host:587`` speaks plain SMTP and upgrades with STARTTLS whenever the
server offers it; ``smtps://user:password@host:465`` speaks TLS from the first byte. A private
CA goes in the query: ``?cafile=/etc/ssl/our-ca.pem``. The password is never printed: every
description and every error says the URL with ``********`` in its place.

Time is bounded on purpose, and differently on either side of the final dot. Up to the end of
the envelope (connecting, TLS, logging in, MAIL, RCPT) each command waits at most
``PARLOUR_SMTP_TIMEOUT`` seconds and all of them together :attr:`SmtpTransport.deadline`, so a
server that accepts the connection and never answers costs a bounded wait, then a retry later.
Once the message is offered (DATA), the server may already have it: RFC 5321 (4.5.3.2.6) gives
it ten minutes to answer the final dot, and a client that gives up sooner and retries sends the
message twice. So DATA waits :data:`FINAL_REPLY_WAIT`. (aiosmtplib times DATA's two replies,
the 354 and the final one, with one timeout each; the 354 thus gets the long wait too, which
costs a stalled server's lane time, never a duplicate.)

How answers are judged (RFC 5321): a 4xx to MAIL, RCPT or DATA is "try again later"; a 5xx
there is "never", and the message is dead, as is an address this relay cannot take (a local
part that is not ASCII and no SMTPUTF8; a domain that is no IDN). Those are the message's own
trouble. Trouble before a message is even offered (connecting, TLS, the greeting, logging in),
a 421 (the server closing), and a wait that ran out are the server's or the configuration's:
the message is retried, and the worker stops offering others until the server answers again.
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
from aiosmtplib.email import flatten_message

from parlour.config import Settings, mask_url_password
from parlour.domain.addresses import EmailAddress
from parlour.errors import ConfigurationError, ParlourError
from parlour.mail.addresses import Undeliverable, recipient
from parlour.services.outbox.relay import RelayFeatures

IDLE_REUSE = 5.0
"""Seconds a connection may sit unused and still be reused; servers drop idle ones, and a
message offered on a dropped connection would be a failed attempt for nothing."""
FINAL_REPLY_WAIT = 600.0
"""Seconds DATA waits for the server's answer: RFC 5321's ten minutes for the final dot."""
CLOSING = 421
"""The server is closing the channel (RFC 5321 3.8): its trouble, whichever command it answers."""


class DeliveryFailed(ParlourError):
    """A message was not accepted. ``permanent``: the server said never (5xx to the message),
    or no server could take it; ``server_trouble``: the server or its configuration failed,
    not this message; ``maybe_accepted``: the whole message went and no answer came back (the
    wait ran out, or the connection dropped), so the server may have it: a retry may send it
    twice."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        server_trouble: bool,
        maybe_accepted: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.server_trouble = server_trouble
        self.maybe_accepted = maybe_accepted


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

    def __init__(
        self,
        address: SmtpAddress,
        sender: str,
        *,
        timeout: float,
        relay: RelayFeatures | None = None,
        final_reply_wait: float = FINAL_REPLY_WAIT,
    ) -> None:
        self.address = address
        self.sender = sender
        self.envelope_sender = parseaddr(sender)[1]
        self.timeout = timeout
        self.deadline = timeout * 6
        """The most a message may take up to its DATA, connecting and logging in included."""
        self.final_reply_wait = final_reply_wait
        self.relay = relay if relay is not None else RelayFeatures()
        """Updated after every EHLO; shared with the process when it passes its own."""
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0

    @classmethod
    def from_settings(
        cls, settings: Settings, relay: RelayFeatures | None = None
    ) -> SmtpTransport | None:
        """The configured transport, or ``None`` when no SMTP server is configured."""
        if not settings.smtp_url:
            return None
        return cls(
            SmtpAddress.parse(settings.smtp_url),
            settings.mail_from,
            timeout=settings.smtp_timeout,
            relay=relay,
        )

    def describe(self) -> str:
        return f"SMTP {self.address.shown}"

    async def send(self, message: EmailMessage, recipients: list[str]) -> None:
        """Hand ``message`` to the server; return once it has accepted it (250 to DATA).

        Raises :class:`DeliveryFailed`; after any failure the connection is dropped, since its
        state is unknown.
        """
        envelope = self._envelope(recipients)
        offered = False
        try:
            async with asyncio.timeout(self.deadline):
                client = await self._connected()
                content = await self._envelope_sent(client, message, envelope)
            offered = True
            # Outside the deadline: the server may have the message from here on.
            await client.data(content, timeout=self.final_reply_wait)
        except DeliveryFailed:
            raise  # refused before any command: the connection is as good as it was
        except BaseException as exc:
            self._drop()
            if isinstance(exc, Exception):
                raise self._judge(exc, offered=offered) from exc
            raise
        self._last_used = time.monotonic()

    def _envelope(self, recipients: list[str]) -> list[EmailAddress]:
        try:
            return [recipient(address) for address in recipients]
        except Undeliverable as exc:
            raise DeliveryFailed(str(exc), permanent=True, server_trouble=False) from exc

    async def _envelope_sent(
        self, client: aiosmtplib.SMTP, message: EmailMessage, envelope: list[EmailAddress]
    ) -> bytes:
        """MAIL and RCPT, each bounded by ``timeout``; the message as DATA will send it.

        What ``send_message`` does, in steps, so that DATA alone gets the long wait."""
        utf8 = any(address.needs_smtputf8 for address in envelope)
        if utf8 and not client.supports_extension("smtputf8"):
            addresses = ", ".join(a.typed for a in envelope if a.needs_smtputf8)
            raise DeliveryFailed(
                f"{addresses} has characters before the @ that only a server offering "
                f"SMTPUTF8 can take, and {self.address.shown} does not offer it",
                permanent=True,
                server_trouble=False,
            )
        options = ["SMTPUTF8"] if utf8 else []
        eight_bit = client.supports_extension("8bitmime")
        if eight_bit:
            options.append("BODY=8BITMIME")
        content = flatten_message(message, utf8=utf8, cte_type="8bit" if eight_bit else "7bit")
        if client.supports_extension("size"):
            options.insert(0, f"SIZE={len(content)}")
        encoding = "utf-8" if utf8 else "ascii"
        await client.mail(self.envelope_sender, options=options, encoding=encoding)
        refused: list[aiosmtplib.SMTPRecipientRefused] = []
        for address in envelope:
            try:
                await client.rcpt(address.envelope, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused.append(exc)
        if len(refused) == len(envelope):
            raise aiosmtplib.SMTPRecipientsRefused(refused)
        return content

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
        if client.is_ehlo_or_helo_needed:  # plain or implicit TLS without a login: not yet
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        self.relay.smtputf8 = client.supports_extension("smtputf8")
        self._client = client
        return client

    def _judge(self, exc: Exception, *, offered: bool = False) -> DeliveryFailed:
        where = self.address.shown
        permanent, trouble = False, True
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            reason = f"{where} refused the recipient: {text}"
            permanent = all(500 <= refused.code < 600 for refused in exc.recipients)
            trouble = any(refused.code == CLOSING for refused in exc.recipients)
        elif isinstance(exc, aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPDataError):
            what = "the sender" if isinstance(exc, aiosmtplib.SMTPSenderRefused) else "the message"
            reason = f"{where} refused {what}: {exc.code} {exc.message}"
            permanent, trouble = 500 <= exc.code < 600, exc.code == CLOSING
        elif offered and isinstance(exc, TimeoutError | OSError):
            # No answer to the final dot: whether the server has the message is unknown.
            silence = (
                f"no answer within {self.final_reply_wait:g} s"
                if isinstance(exc, TimeoutError)
                else f"the connection dropped before an answer ({exc})"
            )
            reason = (
                f"{where} was sent the whole message, then {silence}: it may have it, so "
                "sending it again may deliver it twice"
            )
            return DeliveryFailed(reason, permanent=False, server_trouble=True, maybe_accepted=True)
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
