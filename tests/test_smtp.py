"""Email through a real SMTP server (aiosmtpd on loopback), as a relay would answer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from aiosmtpd.smtp import SMTP

from support.data.models import DeliveryStatus, Event, Notification
from support.notify import delivery
from support.platform import tokens
from tests.conftest import UNLOCK


@dataclass
class Handler:
    """Accepts mail, or answers with the scripted codes first (e.g. ['451 ...'])."""

    received: list[bytes] = field(default_factory=list)
    script: list[str] = field(default_factory=list)
    connections: int = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.script:
            return self.script.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.original_content or envelope.content)
        return "250 Message accepted"


@dataclass
class SmtpServer:
    handler: Handler
    port: int
    server: asyncio.AbstractServer

    def messages(self):
        return [message_from_bytes(raw, policy=policy.default) for raw in self.handler.received]


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    handler = Handler()
    loop = asyncio.get_running_loop()

    def factory():
        handler.connections += 1
        return SMTP(handler, hostname="mail.test")

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield SmtpServer(handler, port, server)
    server.close()
    await server.wait_closed()


def _smtp(settings, port: int):
    return settings.with_(email_backend="smtp", smtp_port=port, email_reply_to="help@example.com")


async def _submit(applicant, count: int = 1) -> None:
    for n in range(count):
        response = await applicant.submit("unlock", {**UNLOCK, "account_id": f"61234567{n:02d}"})
        assert response.status_code == 303


async def test_messages_arrive_with_their_headers_over_one_connection(applicant, settings,
                                                                      smtp_server):
    await _submit(applicant, 3)
    smtp = _smtp(settings, smtp_server.port)
    sent = await delivery.deliver_due(smtp, delivery.Backends.from_settings(smtp))
    assert sent == 6  # 3 emails, 3 SMS
    messages = smtp_server.messages()
    assert len(messages) == 3
    assert smtp_server.handler.connections == 1  # one connection for the batch
    rows = {row.idempotency_key: row for row in await Notification.filter(channel="email")}
    for message in messages:
        key = message["Message-ID"].strip("<>").split("@")[0]
        assert key in rows
        assert message["Auto-Submitted"] == "auto-generated"
        # each answer comes back to its application: the reply address with its token
        reference = rows[key].context["reference"]
        assert message["Reply-To"] == (
            f"Support desk <help+{reference.replace('-', '').lower()}-"
            f"{tokens.reply_token(smtp.secret_key, reference).split('-')[1]}@example.com>")
        assert message["To"] == "asha@example.com"
        assert "UL-" in message["Subject"]
        assert message.get_body(("plain",)) is not None and message.get_body(("html",))


async def test_server_down_then_up_delivers_everything_once(applicant, settings):
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    await _submit(applicant, 2)
    down = _smtp(settings, dead_port)
    await delivery.deliver_due(down, delivery.Backends.from_settings(down))
    rows = await Notification.filter(channel="email")
    assert all(row.status is DeliveryStatus.PENDING and row.attempts == 1 for row in rows)
    assert all("Connect" in row.last_error or "refused" in row.last_error.lower() for row in rows)

    handler = Handler()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler), "127.0.0.1", dead_port)
    try:
        await Notification.filter(channel="email").update(next_attempt_at=datetime.now(UTC))
        up = _smtp(settings, dead_port)
        await delivery.deliver_due(up, delivery.Backends.from_settings(up))
        await delivery.deliver_due(up, delivery.Backends.from_settings(up))
    finally:
        server.close()
        await server.wait_closed()
    assert len(handler.received) == 2
    assert await Notification.filter(channel="email", status=DeliveryStatus.SENT).count() == 2


async def test_451_is_retried_then_delivered(applicant, settings, smtp_server):
    await _submit(applicant)
    smtp_server.handler.script = ["451 4.7.1 Try again later"]
    smtp = _smtp(settings, smtp_server.port)
    await delivery.deliver_due(smtp, delivery.Backends.from_settings(smtp))
    row = await Notification.get(channel="email")
    assert row.status is DeliveryStatus.PENDING and "451" in row.last_error
    await Notification.filter(id=row.id).update(next_attempt_at=datetime.now(UTC))
    await delivery.deliver_due(smtp, delivery.Backends.from_settings(smtp))
    await row.refresh_from_db()
    assert row.status is DeliveryStatus.SENT and row.attempts == 2
    assert len(smtp_server.messages()) == 1


async def test_550_is_dead_at_once_and_everyone_sees_it(applicant, settings, smtp_server,
                                                         outbox, client):
    await _submit(applicant)
    code = await outbox.last_code()  # the code messages go out through the file backend
    verify_path = f"/applications/{(await Notification.first()).context['reference']}/verify"
    confirmed = await applicant.post_form(verify_path, {"code": code})
    status_path = confirmed.headers["location"].split("?")[0]

    smtp_server.handler.script = ["550 5.1.1 No such user"]
    smtp = _smtp(settings, smtp_server.port)
    await delivery.deliver_due(smtp, delivery.Backends.from_settings(smtp))
    row = await Notification.get(channel="email", template="received")
    assert row.status is DeliveryStatus.DEAD and row.attempts == 1
    event = await Event.get(type="delivery_failed")
    assert event.internal and "550" in event.message
    # The SMS still went: one dead channel never silences the applicant...
    sms = await Notification.get(channel="sms", template="received")
    assert sms.status is DeliveryStatus.SENT
    # ...and the applicant's page says the email did not reach them.
    page = await client.get(status_path)
    assert "We could not reach you by email" in page.text
    assert "We could not reach you by SMS" not in page.text


async def test_leads_see_each_failed_attempt_and_can_retry(applicant, settings, smtp_server,
                                                           desk):
    await _submit(applicant)
    smtp_server.handler.script = ["451 4.7.1 Greylisted", "550 5.1.1 No such user"]
    smtp = _smtp(settings, smtp_server.port)
    for _ in range(2):
        await Notification.filter(channel="email").update(next_attempt_at=datetime.now(UTC))
        await delivery.deliver_due(smtp, delivery.Backends.from_settings(smtp))
    row = await Notification.get(channel="email")
    assert row.status is DeliveryStatus.DEAD
    assert [entry["error"] for entry in row.attempt_log] == [
        "451 4.7.1 Greylisted", "550 5.1.1 No such user"]

    lead = await desk.reviewer("Lee", role="lead")
    page = await lead.get("/review/admin/deliveries?status=dead")
    assert page.status_code == 200
    assert "451 4.7.1 Greylisted" in page.text and "550 5.1.1 No such user" in page.text
    retried = await lead.post(f"/review/admin/deliveries/{row.id}/retry")
    assert retried.status_code == 303
    await delivery.deliver_due(smtp, delivery.Backends.from_settings(smtp))  # the server accepts now
    await row.refresh_from_db()
    assert row.status is DeliveryStatus.SENT
    assert len(smtp_server.messages()) == 1
