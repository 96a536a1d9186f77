"""Erasure on request, as the applicant lives it: a button on the status page, a page that
says what goes and what stays, a confirmation by email (real SMTP) and SMS, and a status
link that then says the data is gone. Open applications are erased after their decision."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiosmtpd.smtp import SMTP

from support import workflow
from support.clock import jobs
from support.data.models import Application, Channel, Document, Event, Notification, Status
from support.workflow import purging
from tests.conftest import Outbox
from tests.factories import page_version
from tests.kept import kept
from tests.test_smtp import Handler, SmtpServer

DEVANAGARI = re.compile(r"[\u0900-\u097F]")
ASHA = {(Channel.EMAIL, "asha@example.com"), (Channel.SMS, "+919876543210")}


@dataclass
class Mail:
    """The outbox delivered by real SMTP (aiosmtpd on loopback) and the SMS log."""

    outbox: Outbox
    server: SmtpServer

    def to_asha(self, subject: str):
        return [m for m in self.server.messages()
                if m["To"] == "asha@example.com" and subject in str(m["Subject"])]


@pytest.fixture
async def mail(settings) -> AsyncIterator[Mail]:
    handler = Handler()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname="mail.test"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    smtp = settings.with_(email_backend="smtp", smtp_port=port)
    yield Mail(Outbox(smtp), SmtpServer(handler, port, server))
    server.close()
    await server.wait_closed()


@pytest.fixture(autouse=True)
def _daily():
    """run_all purges once a day per process: each test starts with a fresh memory."""
    purging.DAILY.last_run = None
    yield
    purging.DAILY.last_run = None


async def _decide(desk, application: Application, action: str = "approve"):
    ann = await desk.reviewer("Ann")
    await ann.post("/review/next")
    response = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": action, "message": "Our answer to you.",
        "reason_code": "reason_insufficient" if action == "reject" else "",
        "seen": await page_version(application.reference),
    })
    assert response.status_code == 303, response.text
    return ann


async def test_a_refused_application_is_erased_at_once_and_the_applicant_told(
    applicant, client, desk, settings, mail
):
    status_path = await applicant.apply_and_verify(mail.outbox)
    application = await Application.get()
    receipt = kept(settings, (await Document.get()).storage_key)
    await _decide(desk, application, "reject")
    await mail.outbox.deliver()

    page = await client.get(status_path)
    assert f'href="{status_path}/erase"' in page.text
    assert "Erase my personal data" in page.text
    confirm = await client.get(status_path + "/erase")
    assert confirm.status_code == 200
    assert confirm.headers["cache-control"] == "no-store"
    for text in ("What we delete", "Your account ID, phone number, email and IMEI.",
                 "The documents you sent.", "30 days later it stops working", "What we keep", "The decision and its reason",
                 "for statistics", "As soon as you confirm",
                 "After that you can no longer appeal this decision.",
                 "we delete the documents 90 days after an application is closed, and all "
                 "personal data 365 days after it is closed", "Yes, erase my data now"):
        assert text in confirm.text, text
    assert f'action="{status_path}/erase"' in confirm.text

    forged = await client.post(status_path + "/erase", data={})
    assert forged.status_code == 403
    assert (await Application.get()).redacted_at is None

    done = await applicant.post_form(status_path + "/erase", {})
    assert done.status_code == 303 and done.headers["location"] == status_path + "?done=erasure"

    erased = await Application.get()
    assert erased.redacted_at is not None and erased.erasure_requested_at is not None
    assert erased.phone == erased.email == erased.account_id == f"redacted-{erased.id}"
    assert erased.reason == "" and erased.imei is None
    assert (erased.status, erased.decision_code, erased.decision_text) == (
        Status.REJECTED, "reason_insufficient", "Our answer to you.")
    assert not receipt.exists() and not await Document.exists()
    assert await Event.filter(type="redacted", message__contains="applicant's request").exists()

    shown = await client.get(status_path)
    assert shown.status_code == 200
    assert "Your personal data was erased" in shown.text
    assert "As you asked, we erased your personal data" in shown.text
    assert "The application was refused." in shown.text
    assert "This link stops working on" in shown.text
    assert "asha@example.com" not in shown.text and "Appeal" not in shown.text
    appeal = await client.get(status_path + "/appeal")
    assert "Your personal data was erased" in appeal.text and "<form" not in appeal.text

    # The confirmation still reaches the address the application no longer holds.
    rows = await Notification.filter(template="erased")
    assert {(row.channel, row.recipient) for row in rows} == ASHA
    assert await mail.outbox.deliver() == 2
    [message] = mail.to_asha(f"Your personal data in application {erased.reference} is erased")
    body = message.get_body(("plain",)).get_content()
    assert "As you asked, we erased your personal data" in body
    assert "We keep the decision" in body
    [sms] = [m for m in mail.outbox.sms() if "erased" in m["text"]]
    assert sms["to"] == "+919876543210"
    assert erased.reference in sms["text"]

    # Sent, the messages lose their addresses at the next purge; asking again does nothing.
    await workflow.purge(settings)
    assert set(await Notification.all().values_list("recipient", flat=True)) == {""}
    again = await applicant.post_form(status_path + "/erase", {})
    assert again.status_code == 303
    assert await Notification.filter(template="erased").count() == 2


async def test_erasure_in_hindi(applicant, client, desk, settings, mail):
    status_path = await applicant.apply_and_verify(mail.outbox)
    application = await Application.get()
    await _decide(desk, application)
    assert (await client.get(status_path + "?lang=hi")).status_code == 200
    assert (await Application.get()).locale == "hi"

    confirm = await client.get(status_path + "/erase")
    assert '<html lang="hi">' in confirm.text
    assert "नहीं, इसे रहने दें" in confirm.text  # "No, keep it"
    assert f'action="{status_path}/erase"' in confirm.text
    assert (await applicant.post_form(status_path + "/erase", {})).status_code == 303

    shown = await client.get(status_path)
    assert shown.status_code == 200 and '<html lang="hi">' in shown.text
    assert f'<span class="reference">{application.reference}</span>' in shown.text
    rows = await Notification.filter(template="erased")
    assert {row.locale for row in rows} == {"hi"}
    await mail.outbox.deliver()
    [email_row] = [row for row in rows if row.channel == "email"]
    [message] = [m for m in mail.server.messages()
                 if str(m["Message-ID"]).startswith(f"<{email_row.idempotency_key}@")]
    # The subject in Hindi: "your personal data in application … has been erased".
    assert application.reference in str(message["Subject"])
    assert "मिटा दी गई" in str(message["Subject"])
    html = message.get_body(("html",)).get_content()
    assert '<html lang="hi">' in html and DEVANAGARI.search(html)
    assert sorted(row.channel for row in rows) == ["email", "sms"]
    assert any(application.reference in m["text"] and DEVANAGARI.search(m["text"])
               for m in mail.outbox.sms())


async def test_asked_during_review_the_erasure_follows_the_decision(
    applicant, client, desk, settings, mail
):
    status_path = await applicant.apply_and_verify(mail.outbox)
    application = await Application.get()
    ann = await desk.reviewer("Ann")
    await ann.post("/review/next")
    assert (await Application.get()).status is Status.IN_REVIEW

    confirm = await client.get(status_path + "/erase")
    for text in ("Your application is still open", "We erase it right after the decision",
                 "which you will still receive by email and SMS",
                 "If it is refused, you will not be able to appeal",
                 "Yes, erase my data after the decision"):
        assert text in confirm.text, text
    assert (await applicant.post_form(status_path + "/erase", {})).status_code == 303

    page = await client.get(status_path)
    assert "You asked us to erase your personal data." in page.text
    assert f'href="{status_path}/erase"' not in page.text
    assert "You have already asked for this." in (await client.get(status_path + "/erase")).text
    held = await Application.get()
    assert held.erasure_requested_at is not None and held.redacted_at is None
    review = await ann.get(f"/review/applications/{application.reference}")
    assert "+919876543210" in review.text  # the reviewer still has what they decide on
    assert "asked on" in review.text and "to be erased" in review.text

    await jobs.run_all(settings)  # the worker's minute: nothing while under review
    assert (await Application.get()).redacted_at is None

    decided = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "approve", "message": "Approved: use the unlock tool within 14 days.",
        "seen": await page_version(application.reference),
    })
    assert decided.status_code == 303
    await jobs.run_all(settings)

    erased = await Application.get()
    assert erased.redacted_at is not None and erased.status is Status.APPROVED
    assert await mail.outbox.deliver() >= 4  # the decision and the erasure, both channels
    decision = mail.to_asha(f"Application {erased.reference} approved")
    confirmation = mail.to_asha("is erased")
    assert decision and confirmation
    subjects = [str(m["Subject"]) for m in mail.server.messages()]
    assert subjects.index(str(decision[0]["Subject"])) < subjects.index(
        str(confirmation[0]["Subject"]))
    shown = await client.get(status_path)
    assert "Your personal data was erased" in shown.text
    assert "The application was approved." in shown.text


async def test_withdrawing_after_asking_erases_without_waiting_for_a_decision(
    applicant, client, settings, mail
):
    status_path = await applicant.apply_and_verify(mail.outbox)
    confirm = await client.get(status_path + "/erase")
    assert f'href="{status_path}/withdraw"' in confirm.text
    await applicant.post_form(status_path + "/erase", {})
    await applicant.post_form(status_path + "/withdraw", {})

    await jobs.run_all(settings)

    erased = await Application.get()
    assert erased.status is Status.WITHDRAWN and erased.redacted_at is not None
    rows = await Notification.filter(template="erased")
    assert {(row.channel, row.recipient) for row in rows} == ASHA


async def test_an_erased_application_cannot_be_found_by_its_old_contact(
    applicant, client, settings, mail
):
    status_path = await applicant.apply_and_verify(mail.outbox)
    await applicant.post_form(status_path + "/withdraw", {})
    await applicant.post_form(status_path + "/erase", {})
    erased = await Application.get()
    assert erased.redacted_at is not None

    for contact in ("asha@example.com", "98765 43210", erased.email):
        sent = await workflow.request_status_link(settings, erased.reference, contact)
        assert sent is False, contact
    assert not await Notification.filter(template="status_link").exists()
