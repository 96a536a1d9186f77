"""``support mail-fetch`` end to end against Debian's Dovecot: an applicant's reply that
lands in a hosted mailbox answers the request with its text and photo, through the
desk's own taker and through the command as an operator runs it (a process of its own)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from support.config import Settings
from support.data.models import Application, Document, Event, InboundMail, Status
from support.mailin.desk import DeskTaker
from support.mailin.imap import fetch_once
from tests.conftest import jpeg_bytes
from tests.mail_helpers import gmail_reply, plain_mail
from tests.servers.dovecot import Dovecot, dovecot  # noqa: F401 - the session's server
from tests.test_mail_in import asked


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Iterator[Dovecot]:  # noqa: F811
    if dovecot.process is None:
        dovecot.start()
    dovecot.clear()
    yield dovecot


@pytest.fixture
def settings(settings: Settings, mailbox: Dovecot) -> Settings:
    return dataclasses.replace(
        settings, email_replies=True, email_from="Support desk <support@desk.example>",
        imap_host=mailbox.host, imap_port=mailbox.tls_port, imap_security="tls",
        imap_username=mailbox.username, imap_password=mailbox.password,
        imap_ca_file=mailbox.ca_file)


async def test_a_gmail_reply_in_the_mailbox_answers_the_request(
        app, settings, desk, outbox, mailbox):
    application, ours, signed = await asked(desk, outbox)
    mailbox.append(gmail_reply(ours, application.email, "Receipt attached, sorry for the blur.",
                               jpeg_bytes((320, 240))))
    mailbox.append(plain_mail("someone@example.com", "support@desk.example", "Hello",
                              "How do I unlock my phone?"))
    assert await fetch_once(settings, DeskTaker(settings)) == 2
    assert await fetch_once(settings, DeskTaker(settings)) == 0  # each taken once
    fresh = await Application.get(id=application.id)
    assert fresh.status is Status.QUEUED and fresh.held_for_id == signed.reviewer.id
    reply = await Event.get(application=fresh, type="reply")
    assert (reply.message, reply.via) == ("Receipt attached, sorry for the blur.", "email")
    assert await Document.filter(application=fresh, purpose="receipt").count() == 1
    unplaced = await InboundMail.get(outcome="unmatched")
    assert unplaced.excerpt == "How do I unlock my phone?" and unplaced.answered
    page = await signed.get("/review/mail")
    assert "How do I unlock my phone?" in page.text and "someone@example.com" in page.text


async def test_the_command_takes_the_mailbox_once_and_says_how_many(
        app, settings, desk, outbox, mailbox, database_url):
    application, ours, _ = await asked(desk, outbox)
    mailbox.append(gmail_reply(ours, application.email, "Here it is.", jpeg_bytes()))
    env = {**os.environ, "SUPPORT_DATA_DIR": str(settings.data_dir),
           "SUPPORT_DATABASE_URL": database_url, "SUPPORT_SECRET_KEY": settings.secret_key,
           "SUPPORT_EMAIL_FROM": settings.email_from, "SUPPORT_IMAP_HOST": mailbox.host,
           "SUPPORT_IMAP_PORT": str(mailbox.starttls_port), "SUPPORT_IMAP_SECURITY": "starttls",
           "SUPPORT_IMAP_USERNAME": mailbox.username,
           "SUPPORT_IMAP_PASSWORD": mailbox.password, "SUPPORT_IMAP_CA_FILE": mailbox.ca_file,
           "SUPPORT_LOG_FORMAT": "json"}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "support", "mail-fetch", "--once"],
                              env=env, capture_output=True, text=True, timeout=60)

    first = await asyncio.to_thread(run)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "1 messages taken."
    assert (await Application.get(id=application.id)).status is Status.QUEUED
    again = await asyncio.to_thread(run)
    assert again.stdout.strip() == "0 messages taken."
    assert application.email not in first.stderr + again.stderr  # no address in the logs
    env["SUPPORT_IMAP_PASSWORD"] = "wrong"
    refused = await asyncio.to_thread(run)
    assert refused.returncode == 1
    said = refused.stderr.strip().splitlines()[-1]  # after the JSON log lines
    assert said.startswith("support mail-fetch: ") and "SUPPORT_IMAP_PASSWORD" in said
    assert "Traceback" not in refused.stderr and "wrong" not in refused.stderr
