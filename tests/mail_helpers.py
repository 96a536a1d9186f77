"""Mail as real clients write it, and the desk's LMTP listener fed by a real client
(the standard library's ``smtplib.LMTP``), for the mail-in tests and the benchmark."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid

from support.config import Settings
from support.mailin import lmtp
from support.mailin.desk import DeskTaker
from tests.conftest import free_port

OUR_WORDS = "Please send a clearer photo of the receipt"


@contextlib.asynccontextmanager
async def listener(settings: Settings) -> AsyncIterator[int]:
    """``support mail-in``'s server in this test's event loop; yields its port."""
    port = free_port()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(lmtp.serve(settings, DeskTaker(settings), "127.0.0.1", port,
                                          stop, ready))
    await asyncio.wait_for(ready.wait(), 5)
    try:
        yield port
    finally:
        stop.set()
        await task


def _lmtp_send(port: int, raw: bytes, recipients: list[str], sender: str) -> dict[str, tuple[int, bytes]]:
    # smtplib.LMTP greets with LHLO (its ``ehlo_msg``) and speaks LMTP from there.
    with smtplib.LMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail(sender, recipients, raw)


async def deliver(port: int, raw: bytes, recipients: list[str],
                  sender: str = "someone@example.com") -> dict[str, tuple[int, bytes]]:
    """Deliver over LMTP; the refused recipients (empty: taken). Raises on a refusal of
    all of them (``smtplib.SMTPDataError``/``SMTPRecipientsRefused``)."""
    return await asyncio.to_thread(_lmtp_send, port, raw, recipients, sender)


def wire(message: Message) -> bytes:
    """As it travels: CRLF line ends (RFC 5322), as a mail server hands it over."""
    return message.as_bytes(policy=policy.SMTP)


def reply_headers(message: Message, ours: Message, sender: str) -> None:
    """What a mail client sets on a reply to ``ours``."""
    message["From"] = sender
    message["To"] = str(ours["Reply-To"] or ours["From"])
    message["Subject"] = "Re: " + str(ours["Subject"])
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="mail.example.com")
    message["In-Reply-To"] = str(ours["Message-ID"])
    message["References"] = str(ours["Message-ID"])


def gmail_reply(ours: Message, sender: str, text: str, photo: bytes | None = None) -> bytes:
    """Gmail's shape: multipart/mixed of an alternative (plain + HTML with the quote in a
    div.gmail_quote) and the photo."""
    message = EmailMessage()
    reply_headers(message, ours, sender)
    quoted = f"On Mon, 7 Dec 2026 at 10:02, Support desk <support@localhost> wrote:\n\n> {OUR_WORDS}.\n> Reference UL-XXXX-XXXX\n"
    message.set_content(f"{text}\n\n{quoted}")
    message.add_alternative(
        f'<div dir="ltr">{text}</div><br><div class="gmail_quote"><div dir="ltr" '
        f'class="gmail_attr">On Mon, 7 Dec 2026 at 10:02, Support desk &lt;support@localhost&gt; '
        f'wrote:<br></div><blockquote class="gmail_quote">{OUR_WORDS}.</blockquote></div>',
        subtype="html")
    if photo is not None:
        message.add_attachment(photo, maintype="image", subtype="jpeg", filename="IMG_2041.jpg")
    return wire(message)


def outlook_reply(ours: Message, sender: str, text: str, photo: bytes | None = None) -> bytes:
    """Outlook's shape: HTML only, the quote after div#divRplyFwdMsg, no In-Reply-To
    (found by the reply address alone), Thread-Index instead."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = str(ours["Reply-To"])
    message["Subject"] = "RE: " + str(ours["Subject"])
    message["Message-ID"] = make_msgid(domain="outlook.example.com")
    message["Thread-Index"] = "AQHZ1234abcd"
    message.set_content(
        f"<html><body><div>{text}</div><hr style='display:inline-block;width:98%'>"
        f"<div id='divRplyFwdMsg' dir='ltr'><b>From:</b> Support desk &lt;support@localhost&gt;"
        f"<br><b>Sent:</b> Monday, December 7, 2026 10:02 AM<br><b>Subject:</b> "
        f"{ours['Subject']}</div><div>{OUR_WORDS}.</div></body></html>", subtype="html")
    if photo is not None:
        message.add_attachment(photo, maintype="image", subtype="jpeg", filename="receipt.jpg")
    return wire(message)


def hindi_reply(ours: Message, sender: str, text: str, photo: bytes | None = None) -> bytes:
    """A Hindi Gmail reply: the subject and body in UTF-8, Gmail's Hindi quote line."""
    message = EmailMessage()
    reply_headers(message, ours, sender)
    message.replace_header("Subject", "जवाब: " + str(ours["Subject"]))
    message.set_content(
        f"{text}\n\nसोम, 7 दिस॰ 2026 को 10:02 am बजे Support desk <support@localhost> ने लिखा:\n\n"
        f"> {OUR_WORDS}.\n")
    if photo is not None:
        message.add_attachment(photo, maintype="image", subtype="jpeg", filename="रसीद.jpg")
    return wire(message)


def plain_mail(sender: str, to: str, subject: str, text: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.com")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return wire(message)
