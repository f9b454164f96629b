"""A real SMTP server for tests: aiosmtpd on a free port, in a thread of its own, recording what
it received. Nothing mocks the SMTP client: Parlour's aiosmtplib talks to this over TCP.

It can answer every message with a chosen reply (``451`` to make the client retry, ``554`` to
make it give up), or every recipient (``451`` or ``550`` to RCPT); hold its answer to DATA until
released (a worker killed mid-send), give it late (a slow final reply), or hang up instead of
giving it (the connection lost after the final dot); accept connections and never say a word (a
hung server); be stopped and started again on the same port (a server that is down for a
while, refusing connections meanwhile); and offer SMTPUTF8 or not (``smtputf8``; aiosmtpd's own
default, and many real relays', is not to).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from support.redis_server import free_port


@dataclass(frozen=True, slots=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    raw: bytes
    at: float
    """When the server had the whole message (time.time())."""

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class _Recorder:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.reply: str | None = None
        """Answer DATA with this instead of accepting (e.g. ``451 4.3.0 Try later``)."""
        self.rcpt_reply: str | None = None
        """Answer RCPT with this instead of accepting the recipient."""
        self.late: float = 0.0
        """Seconds to keep an accepted message's "250" back."""
        self.hang_up = False
        """Close the connection once the message is taken, never answering the final dot."""
        self.held: threading.Event | None = None
        self.holding = threading.Event()
        """Set while a DATA is being held."""
        self.lock = threading.Lock()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.reply is not None:
            return self.reply
        content = envelope.original_content or envelope.content or b""
        assert isinstance(content, bytes)
        with self.lock:
            self.received.append(
                Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), content, time.time())
            )
        held = self.held
        if held is not None:
            # Accepted, with the "250" kept back: a client that dies now never learns that
            # the server has its message (the window in which a message can go twice).
            self.holding.set()
            # On a thread: the server's loop must go on serving other clients meanwhile.
            await asyncio.to_thread(held.wait)
        if self.hang_up and isinstance(server.transport, asyncio.Transport):
            server.transport.abort()  # the message is taken; its "250" never leaves
        # A slow server, as RFC 5321 (4.5.3.2.6) allows: up to ten minutes for this reply.
        await asyncio.sleep(self.late)
        return "250 2.0.0 OK: queued"


class SmtpServer:
    """One aiosmtpd server; ``url`` is what ``PARLOUR_SMTP_URL`` should say to reach it."""

    def __init__(
        self,
        *,
        port: int | None = None,
        credentials: tuple[str, str] | None = None,
        certificate: tuple[Path, Path] | None = None,
        implicit_tls: bool = False,
        smtputf8: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.smtputf8 = smtputf8
        self.credentials = credentials
        self.certificate = certificate
        self.implicit_tls = implicit_tls
        self._recorder = _Recorder()
        self._controller: Controller | None = None
        self._silent: socket.socket | None = None
        self._silent_clients: list[socket.socket] = []
        self._silent_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = ""
        if self.credentials is not None:
            user = f"{self.credentials[0]}:{self.credentials[1]}@"
        query = f"?cafile={self.certificate[0]}" if self.certificate else ""
        return f"{scheme}://{user}127.0.0.1:{self.port}{query}"

    # -- what it received -------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._recorder.lock:
            return list(self._recorder.received)

    def clear(self) -> None:
        with self._recorder.lock:
            self._recorder.received.clear()

    # -- how it answers ---------------------------------------------------------------------

    def answer(self, reply: str | None) -> None:
        """Answer every DATA with ``reply`` (``None``: accept again)."""
        self._recorder.reply = reply

    def answer_recipients(self, reply: str | None) -> None:
        """Answer every RCPT with ``reply`` (``None``: accept again)."""
        self._recorder.rcpt_reply = reply

    def reply_late(self, seconds: float) -> None:
        """Take every message, then answer its final dot ``seconds`` later (0: at once)."""
        self._recorder.late = seconds

    def hang_up_after_data(self, hang_up: bool = True) -> None:
        """Take every message, then drop the connection instead of answering its final dot."""
        self._recorder.hang_up = hang_up

    def hold(self) -> threading.Event:
        """Accept every message but hold the answer to DATA until the returned event is set."""
        release = threading.Event()
        self._recorder.holding.clear()
        self._recorder.held = release
        return release

    def release(self) -> None:
        held = self._recorder.held
        self._recorder.held = None
        if held is not None:
            held.set()

    @property
    def holding(self) -> bool:
        return self._recorder.holding.is_set()

    # -- up, down, hung ---------------------------------------------------------------------

    def start(self) -> Self:
        self._stop_silence()
        kwargs: dict[str, Any] = {}
        if self.certificate is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.certificate[0]), str(self.certificate[1]))
            if self.implicit_tls:
                kwargs["ssl_context"] = context
            else:
                kwargs["tls_context"] = context
        if self.credentials is not None:
            kwargs["authenticator"] = self._authenticate
            # Under implicit TLS aiosmtpd does not know the session is encrypted.
            kwargs["auth_require_tls"] = self.certificate is not None and not self.implicit_tls
        self._controller = Controller(
            self._recorder,
            hostname="127.0.0.1",
            port=self.port,
            ready_timeout=10,
            # Said on purpose: the Controller turns it on unless told, unlike aiosmtpd's SMTP.
            enable_SMTPUTF8=self.smtputf8,
            **kwargs,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        self.release()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        self._stop_silence()

    def restart(self) -> None:
        self.stop()
        self.start()

    def go_silent(self) -> None:
        """Accept connections on the port and never answer: no greeting, no reply, ever."""
        self.stop()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._silent = listener

        def accept() -> None:
            while self._silent is listener:
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                self._silent_clients.append(client)  # held open, never read or written

        self._silent_thread = threading.Thread(target=accept, daemon=True)
        self._silent_thread.start()

    @property
    def silent_connections(self) -> int:
        return len(self._silent_clients)

    def _stop_silence(self) -> None:
        listener, self._silent = self._silent, None
        if listener is not None:
            listener.close()
        if self._silent_thread is not None:
            self._silent_thread.join(5)
            self._silent_thread = None
        for client in self._silent_clients:
            client.close()
        self._silent_clients.clear()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and self.credentials is not None:
            user, password = self.credentials
            if data.login.decode() == user and data.password.decode() == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)
