"""Where messages go. Each backend raises ``DeliveryError`` with ``permanent`` set when
retrying cannot help; anything else is treated as transient by the worker."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Protocol, TypeVar, cast

from support.notify.render import EmailContent

T = TypeVar("T")


class DeliveryError(Exception):
    """``unreachable``: the server itself did not answer (refused, timed out, hung up),
    so the next message to it would fare no better; not said of one message's refusal."""

    def __init__(self, message: str, *, permanent: bool = False,
                 unreachable: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.unreachable = unreachable


class EmailBackend(Protocol):
    async def send(self, message: Message) -> None: ...


class SmsBackend(Protocol):
    async def send(self, to: str, text: str) -> None: ...


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable in a file and safe through any relay, as before


def build_email(
    *, sender: str, to: str, content: EmailContent, key: str, domain: str,
    reply_to: str = "", in_reply_to: str = "",
) -> Message:
    """The Message-ID comes from the outbox row's idempotency key, so a message sent twice
    after a crash carries the same id and receivers can drop the copy.

    Built with ``email.mime`` (the ``compat32`` policy), not ``EmailMessage``: the modern
    API parses every header it is given into a structured object, which cost 0.8 ms of
    CPU a message against 0.07 ms (bench/b1_worker.py), in a worker that shares its cores
    with the web process. The bytes on the wire are the same kind: RFC 2047 headers where
    they need it and UTF-8 bodies in quoted-printable."""
    message = MIMEMultipart("alternative")
    # compat32 writes headers as given: a display name or subject that is not ASCII is
    # RFC 2047-encoded here (a Header is folded where it is written; typeshed allows only
    # str as a header's value, compat32 documents a Header too)
    message["From"] = formataddr(parseaddr(sender), charset="utf-8")
    message["To"] = to
    message["Subject"] = (content.subject if content.subject.isascii()
                          else cast(str, Header(content.subject, "utf-8")))
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<{key}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    if reply_to:  # an applicant's email: their answer comes back to this application
        message["Reply-To"] = formataddr((parseaddr(sender)[0], reply_to), charset="utf-8")
    if in_reply_to:  # our answer to their email: in the same thread in their mail client
        message["In-Reply-To"] = message["References"] = f"<{in_reply_to}>"
    for body, subtype in ((content.text, "plain"), (content.html, "html")):
        part = MIMENonMultipart("text", subtype)
        part.set_payload(body, _UTF8_QP)
        del part["MIME-Version"]  # once, at the top, as RFC 2045 has it
        message.attach(part)
    return message


def _in_new_folder(write: Callable[[], object], folder: Path) -> None:
    """``write``, making its folder first only when it is missing: not a ``mkdir`` a
    message (as ``storage.DocumentStore.put`` does for documents)."""
    try:
        write()
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        write()


def _each(write: Callable[[T], object], items: list[T]) -> list[Exception | None]:
    """``write`` each item; what failed, in order (None where it worked)."""
    failures: list[Exception | None] = []
    for item in items:
        try:
            write(item)
        except OSError as error:
            failures.append(error)
        else:
            failures.append(None)
    return failures


class FileEmailBackend:
    """One RFC 5322 ``.eml`` file per message: the embedded default, and readable by tests."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _write(self, message: Message) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        ident = str(message["Message-ID"]).strip("<>").split("@")[0]
        final = self.directory / f"{stamp}-{ident}.eml"
        partial = final.with_suffix(".part")
        _in_new_folder(lambda: partial.write_bytes(bytes(message)), self.directory)
        os.replace(partial, final)  # readers never see half a message

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._write, message)

    async def send_many(self, messages: list[Message]) -> list[Exception | None]:
        """A batch written in one trip to a thread: in the web process, each trip waits its
        turn behind every request in flight (B1: 60 codes a second sent one by one)."""
        return await asyncio.to_thread(_each, self._write, messages)


class LogSmsBackend:
    """Appends ``{"to", "text", "at"}`` JSON lines; stands in for a gateway in development."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, line: str) -> None:
        def append() -> None:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")

        _in_new_folder(append, self.path.parent)

    async def send(self, to: str, text: str) -> None:
        await asyncio.to_thread(self._append, self._line(to, text))

    async def send_many(self, messages: list[tuple[str, str]]) -> list[Exception | None]:
        """A batch appended at once, in one trip to a thread (as ``FileEmailBackend``)."""
        lines = "\n".join(self._line(to, text) for to, text in messages)
        try:
            await asyncio.to_thread(self._append, lines)
        except OSError as error:
            return [error] * len(messages)
        return [None] * len(messages)

    @staticmethod
    def _line(to: str, text: str) -> str:
        record = {"to": to, "text": text, "at": datetime.now(UTC).isoformat()}
        return json.dumps(record, ensure_ascii=False)
