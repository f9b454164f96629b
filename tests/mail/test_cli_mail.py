"""`parlour check`, `parlour mail test` and `parlour worker` as a user runs them: separate
processes talking to a real SMTP server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from parlour.config import load_settings
from parlour.services.catalogue import Business
from parlour.services.notices.messages import ProbeMessage, to_json
from parlour.services.outbox.outboxes import Outboxes
from parlour.services.outbox.records import State, new_message
from parlour.storage import Storage
from test_cli import parlour

from support.redis_server import free_port
from support.smtp_server import SmtpServer
from support.waiting import eventually, until


def test_check_connects_to_the_smtp_server_and_masks_its_password(tmp_path: Path) -> None:
    server = SmtpServer(credentials=("mailer", "pa55word-here")).start()
    try:
        good = parlour("check", cwd=tmp_path, env={"PARLOUR_SMTP_URL": server.url})
    finally:
        server.stop()
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"ok   SMTP smtp://mailer:********@127.0.0.1:{server.port}" in good.stdout
    assert "PARLOUR_SMTP_URL=smtp://mailer:********@" in good.stdout
    down = parlour(
        "check",
        cwd=tmp_path,
        env={"PARLOUR_SMTP_URL": f"smtp://mailer:pa55word-here@127.0.0.1:{free_port()}"},
    )
    assert down.returncode == 1
    (failure,) = [line for line in down.stdout.splitlines() if "FAIL" in line]
    assert "could not be reached" in failure
    for result in (good, down):
        assert "pa55word-here" not in result.stdout + result.stderr


def test_check_says_when_no_smtp_is_configured(tmp_path: Path) -> None:
    result = parlour("check", cwd=tmp_path)
    assert result.returncode == 0
    assert "SMTP not configured: messages are kept in the outbox" in result.stdout


def test_a_bad_smtp_url_is_refused_without_showing_its_password(tmp_path: Path) -> None:
    result = parlour("check", cwd=tmp_path, env={"PARLOUR_SMTP_URL": "http://u:hunter22@h"})
    assert result.returncode == 2
    assert "PARLOUR_SMTP_URL='http://u:********@h' is not valid" in result.stderr
    assert "hunter22" not in result.stderr


def test_mail_test_sends_one_message(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = {"PARLOUR_SMTP_URL": smtp_server.url, "PARLOUR_MAIL_FROM": "Salon <s@salon.example>"}
    result = parlour("mail", "test", "--to", "Owner@Example.com", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "Sent a test message to Owner@Example.com" in result.stdout  # as typed
    (received,) = smtp_server.received
    assert received.recipients == ("Owner@example.com",)  # the domain in its ASCII form
    assert received.message["Subject"] == "A test message from Parlour"
    smtp_server.answer("554 5.7.1 Not from you")
    refused = parlour("mail", "test", "--to", "owner@example.com", cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert "554 5.7.1 Not from you" in refused.stderr
    assert parlour("mail", "test", "--to", "owner@example.com", cwd=tmp_path).returncode == 2


async def test_worker_delivers_what_the_outbox_holds_and_stops_on_sigterm(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path / "data")
    async with Storage.from_settings(settings) as storage:
        outbox = Outboxes(storage.kv).of("bookings")
        data = to_json(ProbeMessage(Business(name="Willow"), "a test"))
        message = await outbox.enqueue(
            new_message("test", ["c@example.com"], data, now=time.time())
        )
        env = {**os.environ, "PARLOUR_SMTP_URL": smtp_server.url}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "parlour", "worker", cwd=tmp_path, env=env,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await until(lambda: len(smtp_server.received) == 1, timeout=30, what="delivery")

            async def sent() -> bool:
                stored = await outbox.get(message.id)
                return stored is not None and stored.state is State.SENT

            await eventually(sent, what="marked sent")
        finally:
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                _, errors = await process.communicate()
    assert process.returncode == 0, errors.decode()
    assert b"delivery worker" in errors


def test_worker_without_smtp_says_why_it_has_nothing_to_do(tmp_path: Path) -> None:
    result = parlour("worker", cwd=tmp_path)
    assert result.returncode == 2
    assert "PARLOUR_SMTP_URL is not set" in result.stderr


def test_the_mail_commands_have_help(tmp_path: Path) -> None:
    for command in (["worker"], ["mail"], ["mail", "test"]):
        result = parlour(*command, "--help", cwd=tmp_path)
        assert result.returncode == 0
        assert "usage: parlour" in result.stdout
