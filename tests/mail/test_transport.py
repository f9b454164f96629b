"""The SMTP transport against a real aiosmtpd server: STARTTLS and implicit TLS, logins, and how
each kind of answer is judged. Nothing mocks the client."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from parlour.config import load_settings
from parlour.mail.transport import DeliveryFailed, SmtpAddress, SmtpTransport

from support.redis_server import self_signed_certificate
from support.smtp_server import SmtpServer


def message(to: str = "client@example.com") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Salon <salon@example.com>"
    mail["To"] = to
    mail["Subject"] = "Hello"
    mail["Message-ID"] = "<m1@example.com>"
    mail.set_content("Hello there.")
    return mail


def transport(url: str, timeout: float = 2.0) -> SmtpTransport:
    return SmtpTransport(SmtpAddress.parse(url), "Salon <salon@example.com>", timeout=timeout)


async def test_a_message_arrives_and_the_connection_is_reused(smtp_server: SmtpServer) -> None:
    sender = transport(smtp_server.url)
    await sender.send(message("a@example.com"), ["a@example.com"])
    await sender.send(message("b@example.com"), ["b@example.com"])
    await sender.close()
    received = smtp_server.received
    assert [r.recipients for r in received] == [("a@example.com",), ("b@example.com",)]
    assert received[0].sender == "salon@example.com"
    assert received[0].message["Subject"] == "Hello"


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [
        pytest.param("451 4.3.0 Try again later", False, id="4xx-retried"),
        pytest.param("554 5.7.1 Rejected as spam", True, id="5xx-dead"),
    ],
)
async def test_4xx_is_retried_and_5xx_is_final(
    smtp_server: SmtpServer, reply: str, permanent: bool
) -> None:
    smtp_server.answer(reply)
    sender = transport(smtp_server.url)
    with pytest.raises(DeliveryFailed) as failed:
        await sender.send(message(), ["client@example.com"])
    assert failed.value.permanent is permanent
    assert not failed.value.server_trouble
    assert reply.split(maxsplit=1)[0] in failed.value.reason
    smtp_server.answer(None)
    await sender.send(message(), ["client@example.com"])  # a fresh connection works
    await sender.close()
    assert len(smtp_server.received) == 1


async def test_a_server_that_never_answers_is_bounded(smtp_server: SmtpServer) -> None:
    smtp_server.go_silent()
    sender = transport(smtp_server.url, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(DeliveryFailed) as failed:
        await sender.send(message(), ["client@example.com"])
    elapsed = time.monotonic() - started
    assert failed.value.server_trouble
    assert not failed.value.permanent
    assert "did not answer within 0.5 s" in failed.value.reason
    assert elapsed < sender.deadline + 1
    assert smtp_server.silent_connections >= 1


async def test_a_stopped_server_is_server_trouble_and_a_restart_recovers(
    smtp_server: SmtpServer,
) -> None:
    sender = transport(smtp_server.url)
    smtp_server.stop()
    with pytest.raises(DeliveryFailed) as failed:
        await sender.send(message(), ["client@example.com"])
    assert failed.value.server_trouble
    smtp_server.start()
    await sender.send(message(), ["client@example.com"])
    await sender.close()
    assert len(smtp_server.received) == 1


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "smtps"])
async def test_tls_and_a_login_with_the_password_never_shown(
    tmp_path: Path, implicit_tls: bool
) -> None:
    made = self_signed_certificate(tmp_path)
    if made is None:
        pytest.skip("no openssl command to make a test certificate")
    server = SmtpServer(
        credentials=("mailer", "s3cret-pw"), certificate=made, implicit_tls=implicit_tls
    ).start()
    try:
        sender = transport(server.url)
        assert "s3cret-pw" not in sender.describe()
        await sender.check()
        await sender.send(message(), ["client@example.com"])
        await sender.close()
        assert len(server.received) == 1
        wrong = transport(server.url.replace("s3cret-pw", "wrong-pw"))
        with pytest.raises(DeliveryFailed) as failed:
            await wrong.send(message(), ["client@example.com"])
        assert failed.value.server_trouble
        assert "refused the login" in failed.value.reason
        assert "wrong-pw" not in failed.value.reason
        assert "********" in failed.value.reason
    finally:
        server.stop()


def test_the_url_decides_tls_and_ports() -> None:
    plain = SmtpAddress.parse("smtp://user:p%40ss@mail.example.com")
    assert (plain.port, plain.implicit_tls, plain.password) == (587, False, "p@ss")
    assert "p%40ss" not in plain.shown
    implicit = SmtpAddress.parse("smtps://mail.example.com")
    assert (implicit.port, implicit.implicit_tls, implicit.username) == (465, True, None)


def test_no_smtp_url_means_no_transport(tmp_path: Path) -> None:
    assert SmtpTransport.from_settings(load_settings(env_file=None, data_dir=tmp_path)) is None


def test_the_final_reply_is_waited_for_as_long_as_rfc_5321_allows() -> None:
    sender = transport("smtp://127.0.0.1:25")
    assert sender.final_reply_wait >= 600  # 4.5.3.2.6: ten minutes for the final dot
    assert sender.final_reply_wait > sender.deadline  # longer than any wait that retries


async def test_a_late_final_reply_is_waited_for(smtp_server: SmtpServer) -> None:
    smtp_server.reply_late(3.0)
    sender = transport(smtp_server.url, timeout=2.0)
    await sender.send(message(), ["client@example.com"])
    await sender.close()
    assert len(smtp_server.received) == 1


@pytest.mark.parametrize(
    ("misbehave", "said"),
    [
        pytest.param(lambda s: s.reply_late(2.0), "no answer within 0.5 s", id="too-late"),
        pytest.param(lambda s: s.hang_up_after_data(), "connection dropped", id="hung-up"),
    ],
)
async def test_no_answer_to_the_final_dot_says_the_server_may_have_it(
    smtp_server: SmtpServer, misbehave: Callable[[SmtpServer], None], said: str
) -> None:
    misbehave(smtp_server)
    sender = SmtpTransport(
        SmtpAddress.parse(smtp_server.url), "s@salon.example", timeout=2.0, final_reply_wait=0.5
    )
    with pytest.raises(DeliveryFailed) as failed:
        await sender.send(message(), ["client@example.com"])
    assert failed.value.maybe_accepted
    assert failed.value.server_trouble
    assert not failed.value.permanent
    assert said in failed.value.reason
    assert "may have it" in failed.value.reason
    assert len(smtp_server.received) == 1


async def test_a_421_is_the_servers_trouble_not_the_messages(smtp_server: SmtpServer) -> None:
    smtp_server.answer_recipients("421 4.3.2 Shutting down")
    sender = transport(smtp_server.url)
    with pytest.raises(DeliveryFailed) as failed:
        await sender.send(message(), ["client@example.com"])
    assert failed.value.server_trouble
    assert not failed.value.permanent


@pytest.mark.parametrize(
    "address",
    ["josé@example.com", "ida@-exämple.com", "ida@exä mple.com"],
    ids=["no-smtputf8", "bad-idn-hyphen", "bad-idn-space"],
)
async def test_an_address_no_relay_here_can_take_is_the_messages_own_trouble(
    smtp_server: SmtpServer, address: str
) -> None:
    sender = transport(smtp_server.url)
    with pytest.raises(DeliveryFailed) as failed:
        await sender.send(message(address), [address])
    assert failed.value.permanent
    assert not failed.value.server_trouble
    assert address in failed.value.reason
    await sender.send(message(), ["client@example.com"])  # the transport is none the worse
    await sender.close()
    assert [r.recipients for r in smtp_server.received] == [("client@example.com",)]
