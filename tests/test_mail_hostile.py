"""Hostile mail: oversized, thousands of parts, malformed MIME, HTML only, encoded words
in every charset the four languages use, NULs, lying charsets. Each is handled by the
real listener: answered (never a crash of the receiver), recorded once, and nothing
half-stored."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from support.data.models import Application, Document, Event, InboundMail, Status
from support.notify.inbox.parse import MAX_PARTS, read
from tests.conftest import jpeg_bytes
from tests.factories import make_application
from tests.mail_helpers import deliver, listener, plain_mail, wire


@pytest.fixture
def settings(settings):
    return settings.with_(email_from="Support desk <support@desk.example>",
                          mail_max_bytes=2 * 1024 * 1024)


def many_parts(count: int) -> bytes:
    parts = "".join(f"--B\r\nContent-Type: text/plain\r\n\r\npart {n}\r\n" for n in range(count))
    return (f"From: a@example.com\r\nTo: support@desk.example\r\nSubject: parts\r\n"
            f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
            f"{parts}--B--\r\n").encode()


def nested(depth: int) -> bytes:
    head = "".join(f'--B{n}\r\nContent-Type: multipart/mixed; boundary="B{n + 1}"\r\n\r\n'
                   for n in range(depth))
    tail = "".join(f"--B{n}--\r\n" for n in reversed(range(depth)))
    return (f"From: a@example.com\r\nTo: support@desk.example\r\nSubject: deep\r\n"
            f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B0"\r\n\r\n'
            f"{head}--B{depth}\r\nContent-Type: text/plain\r\n\r\nhi\r\n{tail}").encode()


CHARSET_SUBJECTS = [
    ("=?koi8-r?B?8NLJ18XU?=", "Привет"),
    ("=?windows-1251?B?z/Do4uXy?=", "Привет"),
    ("=?iso-8859-5?B?v+DY0tXi?=", "Привет"),
    ("=?utf-8?B?4KSo4KSu4KS44KWN4KSk4KWH?=", "नमस्ते"),
    ("=?utf-8?Q?=E0=A4=A8=E0=A4=AE=E0=A4=B8=E0=A5=8D=E0=A4=95=E0=A4=BE=E0=A4=B0?=", "नमस्कार"),
    ("=?x-unknown?B?SGVsbG8=?=", "Hello"),  # a charset nobody knows: read as UTF-8
    ("=?utf-8?B?not base64!?=", None),  # broken: kept readable, no exception
]


@pytest.mark.parametrize(("encoded", "expected"), CHARSET_SUBJECTS)
def test_encoded_words_in_each_languages_charsets_are_read(encoded, expected):
    raw = (f"From: =?koi8-r?B?8NLJ18XU?= <ivan@example.com>\r\nSubject: {encoded}\r\n\r\nbody\r\n"
           ).encode()
    incoming = read(raw, max_attachment_bytes=1000)
    assert incoming.sender == "ivan@example.com" and incoming.sender_name == "Привет"
    if expected is not None:
        assert incoming.subject == expected
    assert incoming.subject.isprintable()


def test_bodies_in_legacy_cyrillic_charsets_and_lying_charsets_are_text():
    for charset in ("koi8-r", "windows-1251", "iso-8859-5", "cp866"):
        message = EmailMessage()
        message["From"] = "ivan@example.com"
        message.set_content("Вот чек.", charset=charset)
        assert read(bytes(message), max_attachment_bytes=10).plain.strip() == "Вот чек."
    lying = b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xff\xfe\x00ok\r\n"
    text = read(lying, max_attachment_bytes=10).plain
    assert text is not None and text.strip().endswith("ok") and "\x00" not in text  # PostgreSQL refuses NUL
    assert read(b"\x00\x00\x00", max_attachment_bytes=10).sender == ""


def test_thousands_of_parts_are_refused_as_a_whole_without_walking_them():
    incoming = read(many_parts(5000), max_attachment_bytes=1000)
    assert incoming.problem == "too_many_parts" and incoming.attachments == ()
    assert read(many_parts(MAX_PARTS // 2), max_attachment_bytes=1000).problem is None
    assert read(nested(500), max_attachment_bytes=1000).problem in {"too_many_parts", None}


def test_html_only_mail_is_made_text_without_its_markup_or_scripts():
    message = EmailMessage()
    message["From"] = "a@example.com"
    message.set_content("<html><head><style>p{}</style><script>alert(1)</script></head>"
                        "<body><p>Here is the <b>receipt</b> &amp; the box.</p></body></html>",
                        subtype="html")
    incoming = read(bytes(message), max_attachment_bytes=10)
    assert incoming.plain is None and incoming.html is not None
    from support.notify.inbox.reply_text import new_text

    text = new_text(incoming.plain, incoming.html)
    assert "Here is the receipt & the box." in text
    assert "<" not in text and "alert" not in text


async def test_hostile_mail_over_lmtp_is_answered_and_recorded_once_never_a_crash(
        app, settings, outbox):
    application = await make_application(status=Status.NEEDS_INFO,
                                         info_request={"items": ["receipt"], "message": "x"})
    malformed = [
        many_parts(3000),
        nested(300),
        b"From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nno boundary at all\r\n",
        (b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
         b'boundary="X"\r\n\r\n--X\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: '
         b"base64\r\nContent-Disposition: attachment; filename*=utf-8''%FF%FE.jpg\r\n\r\n"
         b"!!!! not base64 !!!!\r\n--X"),  # cut off, broken base64, bad RFC 2231 name
        b"Subject: =?utf-8?Q?=00=0D=0ABcc:_x@y?=\r\n\r\n\x00\x00",  # NUL and CRLF in a subject
        b"\r\n\r\n",
    ]
    async with listener(settings) as port:
        for raw in malformed:
            assert await deliver(port, raw, ["support@desk.example"]) == {}
        # a forged In-Reply-To to a made-up key of ours, from a stranger
        await deliver(port, plain_mail("x@evil.example", "support@desk.example", "Re: x", "hi",
                                       In_Reply_To="<0123456789abcdef0123456789abcdef.email@testserver>"),
                      ["support@desk.example"])
        # bigger than SUPPORT_MAIL_MAX_BYTES: refused by the listener itself (552), at
        # MAIL FROM when the client declares its SIZE, else after its DATA
        big = plain_mail("a@example.com", "support@desk.example", "big",
                         ("x" * 70 + "\n") * (3 * 1024 * 1024 // 71))
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            await deliver(port, big, ["support@desk.example"])
        assert refused.value.smtp_code == 552
        # the listener still answers
        assert await deliver(port, plain_mail("b@example.com", "support@desk.example", "hello",
                                              "Where do I apply?"), ["support@desk.example"]) == {}
    rows = await InboundMail.all()
    assert len(rows) == len(malformed) + 2
    assert all(row.subject.isprintable() or row.subject == "" for row in rows)
    assert not any("\x00" in row.subject + row.excerpt for row in rows)
    assert (await Application.get(id=application.id)).status is Status.NEEDS_INFO
    assert not await Document.all().exists()
    assert not await Event.filter(type__in=["reply", "email_received"]).exists()


async def test_a_huge_attachment_is_refused_and_the_rest_of_the_reply_taken(
        app, settings, outbox):
    settings_small = settings.with_(max_file_bytes=100_000)
    application = await make_application(status=Status.NEEDS_INFO,
                                         info_request={"items": ["receipt"], "message": "x"})
    from support.platform import tokens

    to = tokens.plus_address("support@desk.example",
                             tokens.reply_token(settings.secret_key, application.reference))
    message = EmailMessage()
    message["From"] = application.email
    message["To"] = to
    message["Subject"] = "Re: receipt"
    message.set_content("Both photos attached.")
    message.add_attachment(jpeg_bytes((64, 64)), maintype="image", subtype="jpeg",
                           filename="small.jpg")
    message.add_attachment(b"\xff\xd8\xff" + b"\x00" * 200_000, maintype="image",
                           subtype="jpeg", filename="huge.jpg")
    async with listener(settings_small) as port:
        await deliver(port, wire(message), [to])
    fresh = await Application.get(id=application.id)
    assert fresh.status is Status.QUEUED
    assert [d.original_name for d in await Document.filter(application=fresh)] == ["small.jpg"]
    await outbox.deliver()
    body = outbox.emails()[-1].get_body(("plain",)).get_content()
    assert "huge.jpg" in body and "larger than" in body
