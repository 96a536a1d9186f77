"""Where messages go. Each backend raises ``DeliveryError`` with ``permanent`` set when
retrying cannot help; anything else is treated as transient by the worker."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from support.notify.render import EmailContent


class DeliveryError(Exception):
    """``unreachable``: the server itself did not answer (refused, timed out, hung up),
    so the next message to it would fare no better; not said of one message's refusal."""

    def __init__(self, message: str, *, permanent: bool = False,
                 unreachable: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.unreachable = unreachable


class EmailBackend(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmsBackend(Protocol):
    async def send(self, to: str, text: str) -> None: ...


def build_email(
    *, sender: str, to: str, content: EmailContent, key: str, domain: str
) -> EmailMessage:
    """The Message-ID comes from the outbox row's idempotency key, so a message sent twice
    after a crash carries the same id and receivers can drop the copy."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = content.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<{key}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    return message


class FileEmailBackend:
    """One RFC 5322 ``.eml`` file per message: the embedded default, and readable by tests."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _write(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        ident = str(message["Message-ID"]).strip("<>").split("@")[0]
        final = self.directory / f"{stamp}-{ident}.eml"
        partial = final.with_suffix(".part")
        partial.write_bytes(bytes(message))
        os.replace(partial, final)  # readers never see half a message

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message)


class LogSmsBackend:
    """Appends ``{"to", "text", "at"}`` JSON lines; stands in for a gateway in development."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    async def send(self, to: str, text: str) -> None:
        record = {"to": to, "text": text, "at": datetime.now(UTC).isoformat()}
        await asyncio.to_thread(self._append, json.dumps(record, ensure_ascii=False))
