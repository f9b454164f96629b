"""/admin/outbox: readable messages when nothing is configured to send them, retry for admins
only behind a CSRF token, and the outbox's numbers on /metrics."""

from __future__ import annotations

import html
from pathlib import Path

from parlour.config import Settings, load_settings
from parlour.services.catalogue import Business
from parlour.services.notices.messages import ProbeMessage, to_json
from parlour.services.outbox.records import State, new_message
from parlour.web.app import create_app
from parlour.web.parts import core, parts
from web.test_metrics import sample

from support.smtp_server import SmtpServer
from support.waiting import until
from support.web import log_in, post_form, running

PASSWORD = "correct horse battery"


def probe(now: float, to: str = "client@example.com") -> object:
    data = to_json(ProbeMessage(Business(name="Willow", phone="01225 000111"), "a test"))
    return new_message("test", [to], data, now=now)


async def test_with_no_smtp_a_message_is_kept_and_readable(settings: Settings) -> None:
    app = create_app(settings)
    async with running(app) as client:
        await core(app).accounts.create_user("a@example.com", "admin", PASSWORD)
        outbox = core(app).outboxes.of("bookings")
        message = await outbox.enqueue(probe(parts(app).delivery.clock()))  # type: ignore[arg-type]
        await log_in(client, "a@example.com", PASSWORD)
        page = await client.get("/admin/outbox")
        assert page.status_code == 200
        assert "No SMTP server is configured" in page.text
        assert f"/admin/outbox/bookings/{message.id}" in page.text
        shown = await client.get(f"/admin/outbox/bookings/{message.id}")
        assert shown.status_code == 200
        assert "A test message from Willow" in shown.text
        assert "01225 000111" in html.unescape(shown.text)
        assert (await client.get("/admin/outbox/bookings/m_nonesuch")).status_code == 404
        # The HTML version is framed from a route of its own: its inline styles under a policy
        # of its own (sandboxed, nothing fetched), not the pages' (which refuses them).
        assert f'src="/admin/outbox/bookings/{message.id}/html"' in shown.text
        framed = await client.get(f"/admin/outbox/bookings/{message.id}/html")
        assert framed.status_code == 200
        assert "Willow" in framed.text
        policy = framed.headers["content-security-policy"]
        assert "sandbox" in policy
        assert "frame-ancestors 'self'" in policy
        assert "script-src" not in policy
        assert framed.headers["x-frame-options"] == "SAMEORIGIN"
        assert (await client.get("/admin/outbox/bookings/m_nonesuch/html")).status_code == 404
        await until(lambda: parts(app).delivery.stats.due == 1, what="the worker counting it")
        text = (await client.get("/metrics")).text
        assert sample(text, "parlour_outbox_due") == 1
        assert sample(text, "parlour_outbox_sent_total") == 0
        assert (await outbox.get(message.id)).state is State.PENDING  # type: ignore[union-attr]


async def test_retry_is_for_admins_with_a_token(settings: Settings) -> None:
    app = create_app(settings)
    async with running(app) as client:
        accounts = core(app).accounts
        await accounts.create_user("a@example.com", "admin", PASSWORD)
        await accounts.create_user("s@example.com", "staff", PASSWORD)
        outbox = core(app).outboxes.of("bookings")
        now = parts(app).delivery.clock()
        message = await outbox.enqueue(probe(now))  # type: ignore[arg-type]
        (entry,) = (await outbox.scan(now)).due
        leased = await outbox.lease(entry, "test", now, 60)
        assert leased is not None
        await outbox.set_aside(leased, State.DEAD, "550 no such mailbox")
        fields = {"namespace": "bookings", "message_id": message.id}

        await log_in(client, "s@example.com", PASSWORD)
        assert (await client.get("/admin/outbox")).status_code == 403
        await client.post("/logout", data={"csrf_token": ""})
        client.cookies.clear()

        await log_in(client, "a@example.com", PASSWORD)
        page = await client.get("/admin/outbox")
        assert "550 no such mailbox" in page.text
        forged = await client.post("/admin/outbox/retry", data=fields)
        assert forged.status_code == 403
        assert (await outbox.get(message.id)).state is State.DEAD  # type: ignore[union-attr]
        done = await post_form(client, "/admin/outbox", "/admin/outbox/retry", **fields)
        assert done.status_code == 303
        again = await outbox.get(message.id)
        assert again is not None
        assert again.state is State.PENDING
        assert again.attempts == 0
        assert "queued to be sent again" in (await client.get("/admin/outbox")).text


async def test_the_admin_page_names_the_server_without_its_password(tmp_path: Path) -> None:
    server = SmtpServer(credentials=("mailer", "pa55word-here")).start()
    try:
        settings = load_settings(env_file=None, data_dir=tmp_path / "data", smtp_url=server.url)
        app = create_app(settings)
        async with running(app) as client:
            await core(app).accounts.create_user("a@example.com", "admin", PASSWORD)
            await log_in(client, "a@example.com", PASSWORD)
            page = await client.get("/admin/outbox")
    finally:
        server.stop()
    assert f"smtp://mailer:********@127.0.0.1:{server.port}" in page.text
    assert "pa55word-here" not in page.text
