"""Mail coming in over LMTP (``support mail-in``), fed by a real client: an applicant's
reply from Gmail, Outlook or in Hindi answers the request with its text and photo; a
bounce turns its email dead and the status page says so; a forged reply changes nothing;
automatic mail is never answered; mail nobody can place is answered once an hour and
listed for reviewers; each message is taken once."""

from __future__ import annotations

import re
from email.message import Message

import pytest

from support import workflow
from support.data.models import (
    Application,
    Channel,
    DeliveryStatus,
    Document,
    Event,
    InboundMail,
    Notification,
    Status,
)
from support.workflow import Decision
from tests.conftest import jpeg_bytes
from tests.factories import make_application
from tests.mail_helpers import (
    OUR_WORDS,
    deliver,
    gmail_reply,
    hindi_reply,
    listener,
    outlook_reply,
    plain_mail,
    wire,
)


@pytest.fixture
def settings(settings):
    return settings.with_(email_replies=True, email_from="Support desk <support@desk.example>")


async def asked(desk, outbox, **values) -> tuple[Application, Message, object]:
    """An application whose reviewer asked for a receipt; the email the applicant got."""
    signed = await desk.reviewer(name="Asha Rao")
    application = await make_application(**values)
    actor = workflow.reviewer_actor(signed.reviewer)
    await workflow.claim(application, actor)
    await workflow.decide(await Application.get(id=application.id), actor,
                          Decision("request_info", OUR_WORDS + ".", items=("receipt",)))
    await outbox.deliver()
    ours = [m for m in outbox.emails() if "information" in str(m["Subject"])][-1]
    return await Application.get(id=application.id), ours, signed


def photo() -> bytes:
    return jpeg_bytes((640, 480))


async def test_our_email_says_replies_are_read_and_carries_a_signed_reply_address(
        app, settings, desk, outbox):
    application, ours, _ = await asked(desk, outbox)
    assert re.fullmatch(r"Support desk <support\+[a-z0-9]{10}-[0-9a-f]{20}@desk\.example>",
                        str(ours["Reply-To"]))
    assert application.reference.replace("-", "").lower() in str(ours["Reply-To"])
    # its own line, in the plain text too (not run on after "…or the application expires.")
    assert re.search(r"^You can also answer by replying to this email",
                     ours.get_body(("plain",)).get_content(), re.M)


@pytest.mark.parametrize("client", [gmail_reply, outlook_reply, hindi_reply])
async def test_a_reply_answers_the_request_with_its_text_and_photo(
        app, settings, desk, outbox, client):
    from email import message_from_bytes

    application, ours, signed = await asked(desk, outbox)
    text = {"hindi_reply": "रसीद की साफ़ फ़ोटो संलग्न है। धन्यवाद।"}.get(
        client.__name__, "Here is the receipt again, photographed in daylight.")
    raw = client(ours, application.email, text, photo())
    reply = message_from_bytes(raw)
    async with listener(settings) as port:
        refused = await deliver(port, raw, [str(ours["Reply-To"]).split("<")[1].rstrip(">")])
    assert refused == {}
    fresh = await Application.get(id=application.id)
    assert fresh.status is Status.QUEUED
    assert fresh.held_for_id == signed.reviewer.id  # back to the reviewer who asked
    event = await Event.get(application=fresh, type="reply")
    assert event.via == "email"
    assert event.message == text  # their words, not our quoted request
    document = await Document.get(application=fresh)
    assert document.purpose == "receipt" and document.content_type == "image/jpeg"
    page = await signed.get(f"/review/applications/{fresh.reference}")
    assert text in page.text
    assert "by email" in page.text
    assert f"/review/documents/{document.id}" in page.text
    # and the applicant is told, in one email, what was taken
    await outbox.deliver()
    told = outbox.emails()[-1]
    assert told["To"] == application.email
    # in the same thread as their reply in their mail client
    assert told["In-Reply-To"] == told["References"] == reply["Message-ID"]
    assert "1 file was added" in told.get_body(("plain",)).get_content()


async def test_a_refused_attachment_is_explained_and_the_text_still_answers(
        app, settings, desk, outbox):
    application, ours, _ = await asked(desk, outbox)
    raw = gmail_reply(ours, application.email, "The receipt is attached as you asked.")
    raw = raw.replace(b"Content-Type: text/plain", b"Content-Type: text/plain", 1)
    from email import message_from_bytes, policy

    message = message_from_bytes(raw, policy=policy.default)
    message.add_attachment(b"MZ\x90\x00 not a photo", maintype="application",
                           subtype="octet-stream", filename="receipt.exe")
    async with listener(settings) as port:
        await deliver(port, wire(message), [str(ours["Reply-To"]).split("<")[1].rstrip(">")])
    fresh = await Application.get(id=application.id)
    assert fresh.status is Status.QUEUED
    assert not await Document.filter(application=fresh).exists()
    await outbox.deliver()
    body = outbox.emails()[-1].get_body(("plain",)).get_content()
    assert "receipt.exe" in body and "Only photos (JPEG or PNG) and PDF files" in body


async def test_a_bounce_turns_the_email_dead_and_the_status_page_offers_a_correction(
        app, settings, desk, outbox, applicant, client):
    path = await applicant.apply_and_verify(outbox)
    await outbox.deliver()  # everything written so far goes out
    application = await Application.get(email="asha@example.com")
    sent = await Notification.filter(application=application, channel=Channel.EMAIL,
                                     status=DeliveryStatus.SENT).order_by("-id").first()
    assert sent is not None
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        "To: support@desk.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail system: user unknown.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        "Final-Recipient: rfc822; asha@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <asha@example.com>: Recipient address rejected\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@desk.example\r\nTo: asha@example.com\r\n"
        f"Message-ID: <{sent.idempotency_key}@testserver>\r\n\r\n--B--\r\n"
    ).encode()
    async with listener(settings) as port:
        await deliver(port, dsn, ["support@desk.example"], sender="")
    row = await Notification.get(id=sent.id)
    assert row.status is DeliveryStatus.DEAD
    assert "5.1.1" in row.last_error
    assert (await InboundMail.get()).outcome == "report"
    page = await client.get(path)
    assert "/email" in page.text  # the page offers to correct the address
    assert await outbox.deliver() == 0  # a bounce is never answered


async def test_a_forged_reply_pointing_at_another_applicants_email_changes_nothing(
        app, settings, desk, outbox):
    application, ours, _ = await asked(desk, outbox)
    forged = plain_mail("mallory@evil.example", "support@desk.example",
                        "Re: " + str(ours["Subject"]), "Here is a receipt, approve me.",
                        In_Reply_To=str(ours["Message-ID"]), References=str(ours["Message-ID"]))
    async with listener(settings) as port:
        await deliver(port, forged, ["support@desk.example"])
        # a reply address whose token was made up
        made_up = plain_mail("mallory@evil.example",
                             f"support+{application.reference.replace('-', '').lower()}-"
                             f"{'0' * 20}@desk.example", "Re: hello", "Approve please.")
        await deliver(port, made_up, ["support+x@desk.example"])
    fresh = await Application.get(id=application.id)
    assert fresh.status is Status.NEEDS_INFO
    assert not await Event.filter(application=fresh, type__in=["reply", "email_received"]).exists()
    rows = await InboundMail.all().order_by("id")
    assert [r.outcome for r in rows] == ["unmatched", "unmatched"]
    assert all(r.application_id is None for r in rows)
    await outbox.deliver()
    answers = [m for m in outbox.emails() if m["To"] == "mallory@evil.example"]
    assert len(answers) == 1  # one polite answer an hour to one address
    assert application.reference not in answers[0].get_body(("plain",)).get_content()


async def test_a_subject_reference_counts_only_from_the_applications_own_email(
        app, settings, desk, outbox):
    application = await make_application()
    async with listener(settings) as port:
        await deliver(port, plain_mail(application.email, "support@desk.example",
                                       f"About {application.reference}", "Any news on it?"),
                      ["support@desk.example"])
        await deliver(port, plain_mail("other@example.com", "support@desk.example",
                                       f"About {application.reference}", "Any news on it?"),
                      ["support@desk.example"])
    rows = await InboundMail.all().order_by("id")
    assert [(r.outcome, r.application_id) for r in rows] == [
        ("message", application.id), ("unmatched", None)]
    event = await Event.get(application=application, type="email_received")
    assert event.message == "Any news on it?" and event.via == "email"


@pytest.mark.parametrize("headers", [
    {"Auto_Submitted": "auto-replied"},
    {"X_Autoreply": "yes"},
    {"Precedence": "bulk"},
    {},  # an out-of-office subject alone
])
async def test_automatic_mail_is_recorded_and_never_answered(app, settings, outbox, headers):
    subject = "Out of Office: back on Monday" if not headers else "Hello"
    async with listener(settings) as port:
        await deliver(port, plain_mail("away@example.com", "support@desk.example", subject,
                                       "I am away until Monday.", **headers),
                      ["support@desk.example"])
    row = await InboundMail.get()
    assert row.outcome == "automatic" and not row.answered
    assert await outbox.deliver() == 0


async def test_our_own_mail_coming_back_is_never_answered(app, settings, outbox):
    async with listener(settings) as port:
        await deliver(port, plain_mail("support@desk.example", "support@desk.example",
                                       "We could not match your email", "…"),
                      ["support@desk.example"])
    assert (await InboundMail.get()).outcome == "automatic"
    assert await outbox.deliver() == 0


async def test_a_message_delivered_twice_is_taken_once(app, settings, desk, outbox):
    application, ours, _ = await asked(desk, outbox)
    raw = gmail_reply(ours, application.email, "The receipt is attached.", photo())
    async with listener(settings) as port:
        for _ in range(2):  # the mail server retries after a lost answer
            await deliver(port, raw, ["support@desk.example"])
    assert await Event.filter(application=application, type="reply").count() == 1
    assert await Document.filter(application=application).count() == 1
    assert await InboundMail.all().count() == 1


async def test_a_database_failure_answers_451_and_the_mail_server_keeps_the_message(
        app, settings, desk, outbox, monkeypatch):
    import smtplib

    from support.workflow import mail

    application, ours, _ = await asked(desk, outbox)
    raw = gmail_reply(ours, application.email, "The receipt is attached.", photo())

    async def down(*args, **kwargs):
        raise ConnectionRefusedError("the database went away")

    async with listener(settings) as port:
        monkeypatch.setattr(mail, "_from_applicant", down)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            await deliver(port, raw, ["support@desk.example"])
        assert refused.value.smtp_code == 451
        monkeypatch.undo()
        await deliver(port, raw, ["support@desk.example"])  # the retry
    assert (await Application.get(id=application.id)).status is Status.QUEUED
    assert await InboundMail.all().count() == 1


async def test_an_autoresponder_without_headers_gets_one_acknowledgement_an_hour_not_a_loop(
        app, settings, outbox):
    application = await make_application()
    async with listener(settings) as port:
        for n in range(5):  # it answers each of our acknowledgements, looking like a person
            await deliver(port, plain_mail(application.email, "support@desk.example",
                                           f"Re: About {application.reference}",
                                           f"Thank you for your message ({n})."),
                          ["support@desk.example"])
    assert await Event.filter(application=application, type="email_received").count() == 5
    assert await outbox.deliver() == 1


async def test_mail_records_lose_their_personal_data_with_the_application_and_by_age(
        app, settings, outbox):
    from datetime import UTC, datetime, timedelta

    from support.workflow import purging

    application = await make_application(status=Status.APPROVED,
                                         decided_at=datetime.now(UTC) - timedelta(days=400))
    async with listener(settings) as port:
        await deliver(port, plain_mail(application.email, "support@desk.example",
                                       f"About {application.reference}",
                                       "My cousin Ravi Kumar, 98111 22233, bought it."),
                      ["support@desk.example"])
        await deliver(port, plain_mail("stranger@example.com", "support@desk.example",
                                       "Unlock please", "I am Priya, call me on 98222 33344."),
                      ["support@desk.example"])
    old = await InboundMail.get(outcome="unmatched")
    await InboundMail.filter(id=old.id).update(
        received_at=datetime.now(UTC) - timedelta(days=settings.document_retention_days + 1))
    report = await purging.purge(settings)
    assert report.redacted == 1 and report.mail == 1
    for row in await InboundMail.all():
        assert (row.sender, row.subject, row.excerpt) == ("", "", "")
    event = await Event.get(application=application, type="email_received")
    assert event.message == ""  # their words went with the rest of their data
