"""The status page's "Messages we sent you": each message to the applicant, newest first,
with each channel's delivery (sent, being sent, could not be delivered), through a real
SMTP server (aiosmtpd on loopback) that refuses or defers some addresses (issue 21)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP

from support.config import Settings
from support.data.models import Application, DeliveryStatus, Notification
from support.notify import delivery
from support.platform import i18n
from support.platform.formatting import mask_email, mask_phone
from support.web.contact import MESSAGE_NAMES

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Handler:
    """A relay: refuses mail to ``refuse`` for good (550), defers ``defer`` (451), accepts
    the rest and keeps each message with the addresses it was given for."""

    refuse: set[str] = field(default_factory=set)
    defer: set[str] = field(default_factory=set)
    received: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user"
        if address in self.defer:
            return "451 4.7.1 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.rcpt_tos),
                              envelope.original_content or envelope.content))
        return "250 Message accepted"


@dataclass
class Relay:
    handler: Handler
    settings: Settings  # the test's settings with email through this relay

    async def deliver(self) -> None:
        await delivery.deliver_due(self.settings, delivery.Backends.from_settings(self.settings))

    def to(self, address: str) -> list[EmailMessage]:
        return [message_from_bytes(raw, policy=policy.default)  # type: ignore[misc]
                for rcpts, raw in self.handler.received if address in rcpts]


@pytest.fixture
async def relay(settings) -> AsyncIterator[Relay]:
    handler = Handler()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname="mail.test"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield Relay(handler, settings.with_(email_backend="smtp", smtp_port=port))
    server.close()
    await server.wait_closed()


def messages_section(html: str) -> str:
    """The part of the page under "Messages we sent you" (to its section's end)."""
    match = re.search(r'id="messages-h".*?</section>', html, re.S)
    assert match, "the status page has no messages section"
    return match.group(0)


def items(section: str) -> list[str]:
    """Each message's entry, as text, in the page's order."""
    entries = re.findall(r"<li>\s*<time.*?</ul>\s*</li>", section, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", entry).split()) for entry in entries]


async def test_each_message_with_each_channels_delivery(applicant, outbox, client, relay):
    path = await applicant.apply_and_verify(outbox)  # the code: email and SMS sent
    application = await Application.get()
    email, phone = mask_email(application.email), mask_phone(application.phone)
    relay.handler.refuse.add(application.email)
    await relay.deliver()  # "received": the email refused for good, the SMS sent
    # A new status link by email, which the relay defers: being sent, with retries.
    relay.handler.refuse.clear()
    relay.handler.defer.add(application.email)
    asked = await applicant.post_form("/status", {"reference": application.reference,
                                                  "contact": application.email})
    assert asked.status_code == 200
    await relay.deliver()
    link_row = await Notification.get(template="status_link")
    assert link_row.status is DeliveryStatus.PENDING and link_row.attempts == 1
    # And one nobody has tried yet.
    await applicant.post_form(f"{path}/withdraw", {})

    page = await client.get(path)
    assert page.status_code == 200
    section = messages_section(page.text)
    assert "Messages we sent you" in section
    entries = items(section)
    assert len(entries) == 4, entries  # code, received, status link, withdrawn
    withdrawn, link, received, code = entries  # newest first
    assert "Application withdrawn" in withdrawn
    assert f"Email: being sent to {email}" in withdrawn
    assert f"SMS: being sent to {phone}" in withdrawn
    assert "Link to your status page" in link
    assert f"Email: not delivered yet to {email}; we will try again at" in link
    assert "SMS" not in link  # asked for by email only
    assert "Application received" in received
    assert f"Email: could not be delivered to {email}" in received
    assert f"SMS: sent to {phone}" in received
    assert "Your confirmation code" in code
    assert f"Email: sent to {email}" in code and f"SMS: sent to {phone}" in code
    # Never a code, a link or the full contacts.
    for secret in (link_row.context["status_url"].split("/status/")[1], application.email,
                   application.phone, "://", "[sent]"):
        assert secret not in section
    shown = re.sub(r"<[^>]+>", " ", section)  # the words, not the times' attributes
    assert not re.search(r"\b\d{6}\b", shown)
    # The email that never arrived: the corrected email is offered, loudly, at the top of
    # the page, and again under the messages.
    top = page.text[:page.text.index("<h1")+2000]
    assert "We could not reach you by email at" in top
    assert f'<a href="{path}/email">Correct your email</a>' in top
    assert f'href="{path}/email"' in section
    assert "Wrong email address? Give the right one (you can do this once)" in section


async def test_without_a_lost_email_the_offer_is_a_plain_link(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    await outbox.deliver()
    section = messages_section((await client.get(path)).text)
    assert "We could not reach you by email" not in (await client.get(path)).text
    assert "Wrong email address? Give the right one (you can do this once)" in section
    assert "Application received" in section and "sent to" in section
    assert "could not be delivered" not in section


async def test_the_messages_in_hindi(applicant, outbox, client, relay):
    path = await applicant.apply_and_verify(outbox)
    application = await Application.get()
    relay.handler.refuse.add(application.email)
    await relay.deliver()
    page = await client.get(path + "?lang=hi")
    assert page.headers["content-language"] == "hi"
    section = messages_section(page.text)
    hindi = i18n.translations("hi")
    for msgid in ("Messages we sent you", "Application received", "Your confirmation code"):
        said = hindi.gettext(msgid)
        assert said != msgid, f"no Hindi for {msgid!r}"
        assert said in section
    text = " ".join(re.sub(r"<[^>]+>", " ", section).split())
    refused = hindi.gettext("could not be delivered to %(to)s") % {
        "to": mask_email(application.email)}
    sent = hindi.gettext("sent to %(to)s") % {"to": mask_phone(application.phone)}
    assert refused in text and sent in text
    for english in ("Messages we sent you", "could not be delivered", "Application received"):
        assert english not in section


def test_every_message_to_applicants_has_a_name():
    templates = {path.stem for folder in ("email", "sms")
                 for path in (ROOT / "templates" / folder).glob("*.txt")}
    assert {"received", "verification_code", "email_code"} <= templates
    for template in templates - {"reviewer_invitation"}:  # reviewers' own, never shown here
        assert template in MESSAGE_NAMES, f"message {template!r} has no name"
        assert "_" not in MESSAGE_NAMES[template]


async def test_an_erased_application_shows_no_messages(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    await applicant.post_form(f"{path}/withdraw", {})
    assert (await applicant.post_form(f"{path}/erase", {})).status_code == 303
    assert (await Application.get()).redacted_at is not None
    page = await client.get(path)
    assert page.status_code == 200
    assert "Messages we sent you" not in page.text and "redacted-" not in page.text


async def test_a_message_sent_after_a_retry_says_sent(applicant, outbox, client, relay):
    path = await applicant.apply_and_verify(outbox)
    application = await Application.get()
    relay.handler.defer.add(application.email)
    await relay.deliver()
    section = messages_section((await client.get(path)).text)
    assert "not delivered yet to" in section
    relay.handler.defer.clear()
    await Notification.filter(status=DeliveryStatus.PENDING).update(
        next_attempt_at=datetime.now(UTC))
    await relay.deliver()
    section = messages_section((await client.get(path)).text)
    received = [entry for entry in items(section) if "Application received" in entry]
    assert received and f"Email: sent to {mask_email(application.email)}" in received[0]
    assert "not delivered yet" not in section
