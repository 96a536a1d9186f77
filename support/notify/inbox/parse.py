"""One message that came in, read into what the desk needs of it, whatever its shape.

Mail is hostile input: any header may be malformed or encoded in any charset, a message may
hold thousands of parts or a part that claims to be base64 and is not. The standard
library's ``compat32`` parser never raises on bad structure (it records defects), and
every header and body is decoded here with replacement characters where its charset is
unknown or lies, so nothing downstream meets bytes it cannot print. Limits are counted
as the message is walked: a message over them is read as far as the limit and marked
with a ``problem``, never half-taken.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.feedparser import BytesFeedParser
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr

from support.notify.inbox import automatic, reports
from support.notify.inbox.headers import decode, header_text
from support.notify.inbox.reports import DeliveryReport

# A reply with a few photos has a dozen parts; a mail client never writes hundreds. Past
# this many the message is refused as a whole (and said so), not read part by part.
MAX_PARTS = 200
# Documents taken from one message: a reviewer asks for two or three.
MAX_ATTACHMENTS = 10
# The text kept of a body: a reply is a few lines; a 10 MB "text" part is not one.
MAX_TEXT_CHARS = 100_000

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")


@dataclass(frozen=True)
class Attachment:
    filename: str
    declared_type: str
    size: int  # decoded, or estimated from the encoded size when over the limit
    data: bytes | None  # None: over the document size limit, not decoded


@dataclass(frozen=True)
class Incoming:
    message_id: str  # without the angle brackets; "" when missing
    refers_to: tuple[str, ...]  # In-Reply-To, then References newest first
    sender: str  # the From address, lower case; "" when missing or unreadable
    sender_name: str
    subject: str
    recipients: tuple[str, ...]  # To, Cc, Delivered-To, X-Original-To (lower case)
    plain: str | None
    html: str | None
    attachments: tuple[Attachment, ...]
    automatic: str | None  # why it is not a person writing (RFC 3834 and its cousins)
    report: DeliveryReport | None
    language: str | None  # from Content-Language, as written
    problem: str | None = None  # why it cannot be taken as a reply at all
    size: int = 0
    attachments_over: int = 0  # documents left out past MAX_ATTACHMENTS
    defects: tuple[str, ...] = field(default=())


def _address(value: object) -> tuple[str, str]:
    name, address = parseaddr(header_text(value))
    return name, address.strip().lower() if "@" in address else ""


def _ids(value: object) -> list[str]:
    return _MESSAGE_ID.findall(str(value or ""))


def _referred(message: Message) -> tuple[str, ...]:
    """The messages this one answers, the likeliest first: In-Reply-To names the one
    answered, References the thread, oldest first (so read backwards)."""
    ids = _ids(message.get("In-Reply-To")) + list(reversed(_ids(message.get("References"))))
    return tuple(dict.fromkeys(ids))  # order kept, repeats gone


def _recipients(message: Message) -> tuple[str, ...]:
    values = [header_text(v) for name in ("To", "Cc", "Delivered-To", "X-Original-To",
                                          "Envelope-To") for v in message.get_all(name, [])]
    return tuple(dict.fromkeys(a.lower() for _, a in getaddresses(values) if "@" in a))


def _leaves(message: Message, limit: int) -> Iterator[Message]:
    """The message's leaf parts, depth first, at most ``limit`` of all parts walked.
    ``message.walk`` is not bounded and would walk a million parts."""
    stack = [message]
    seen = 0
    while stack:
        part = stack.pop()
        seen += 1
        if seen > limit:
            raise _TooManyParts
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
        else:
            yield part


class _TooManyParts(Exception):
    pass


# Control characters a body has no use for: a NUL is refused by PostgreSQL in text, and
# the rest only hide words. Line breaks and tabs stay.
_CONTROLS = dict.fromkeys(c for c in range(32) if chr(c) not in "\n\t") | {0x7F: None}


def _text_of(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    text = decode(data[: MAX_TEXT_CHARS * 4], part.get_content_charset())[:MAX_TEXT_CHARS]
    return text.replace("\r\n", "\n").translate(_CONTROLS)


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - a malformed RFC 2231 parameter
        name = None
    return header_text(name) if name else ""


def _is_document(part: Message) -> bool:
    """An attachment, or a photo pasted into the body (a phone's mail app does that)."""
    maintype = part.get_content_maintype()
    disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
    if disposition == "attachment" or _filename(part):
        return maintype != "text" or disposition == "attachment"
    return maintype == "image" or part.get_content_type() == "application/pdf"


def _attachment(part: Message, max_bytes: int) -> Attachment:
    encoded = part.get_payload()
    encoded_size = len(encoded) if isinstance(encoded, str) else 0
    name = _filename(part) or "attachment"
    if encoded_size * 3 // 4 > max_bytes + 4096:  # base64's 4/3, and a little slack
        return Attachment(name, part.get_content_type(), encoded_size * 3 // 4, None)
    data = _base64(part, encoded)
    if data is None:  # not base64, or not clean: the library's own lenient decoding
        decoded = part.get_payload(decode=True)
        data = decoded if isinstance(decoded, bytes) else b""
    return Attachment(name, part.get_content_type(), len(data),
                      data if len(data) <= max_bytes else None)


def _base64(part: Message, encoded: object) -> bytes | None:
    """A base64 part decoded in one pass over its text. ``get_payload(decode=True)``
    splits it into lines and joins them again: six times the photo's size at its peak
    (bench/README.md, B9), where this is the photo once."""
    if not isinstance(encoded, str) or \
            str(part.get("Content-Transfer-Encoding", "")).strip().lower() != "base64":
        return None
    try:
        return binascii.a2b_base64(encoded, strict_mode=False)
    except (binascii.Error, ValueError):
        return None


# The parser is fed this much at a time: given the whole message at once it keeps it as one
# string of up to four bytes a character beside its lines (B9: 190 MB at the peak for a
# 25 MB message, 69 MB fed in slices).
_FEED = 64 * 1024


def _parsed(raw: bytes) -> Message:
    parser = BytesFeedParser(policy=compat32)
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED):
        parser.feed(bytes(view[start:start + _FEED]))
    return parser.close()


def read(raw: bytes, *, max_attachment_bytes: int, own_addresses: tuple[str, ...] = ()) -> Incoming:
    """``raw`` read; never raises on what the sender controls."""
    message = _parsed(raw)
    sender_name, sender = _address(message.get("From"))
    plain: str | None = None
    html: str | None = None
    found: list[Attachment] = []
    over = 0
    problem: str | None = None
    try:
        for part in _leaves(message, MAX_PARTS):
            ctype = part.get_content_type()
            if ctype in {"message/delivery-status", "message/rfc822",
                         "text/rfc822-headers"}:
                continue  # a report's own parts: read by ``reports``
            if _is_document(part):
                if len(found) < MAX_ATTACHMENTS:
                    found.append(_attachment(part, max_attachment_bytes))
                else:
                    over += 1
            elif ctype == "text/plain" and plain is None:
                plain = _text_of(part)
            elif ctype == "text/html" and html is None:
                html = _text_of(part)
    except _TooManyParts:
        problem = "too_many_parts"
        found = []
    except Exception:  # noqa: BLE001 - a structure the parser let through but cannot decode
        problem = "unreadable"
        found = []
    report = reports.read(message)
    language = header_text(message.get("Content-Language")).split(",")[0].strip() or None
    return Incoming(
        message_id=(_ids(message.get("Message-ID")) or [""])[0],
        refers_to=_referred(message),
        sender=sender,
        sender_name=sender_name,
        subject=header_text(message.get("Subject"))[:500],
        recipients=_recipients(message),
        plain=plain,
        html=html,
        attachments=tuple(found),
        automatic=automatic.why(message, sender, own_addresses, report is not None),
        report=report,
        language=language,
        problem=problem,
        size=len(raw),
        attachments_over=over,
        defects=tuple(type(d).__name__ for d in message.defects[:20]),
    )
