"""Delivery status notifications (RFC 3464): a relay that accepted our email and later
could not deliver it says so in a ``multipart/report`` sent back to the sender.

Only the machine-readable part is believed (``message/delivery-status``): the human text
of a bounce is in any language and any shape. The email it reports is named by the
Message-ID in its returned copy (``message/rfc822`` or ``text/rfc822-headers``)."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")
_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")


@dataclass(frozen=True)
class DeliveryReport:
    action: str  # failed | delayed | delivered | relayed | expanded (RFC 3464 2.3.3)
    status: str  # "5.1.1"
    recipient: str  # the Final-Recipient's address, lower case
    diagnostic: str  # the remote server's words, shortened
    original_id: str | None  # the Message-ID of the email it reports

    @property
    def permanent(self) -> bool:
        return self.action == "failed" or self.status.startswith("5.")

    @property
    def temporary(self) -> bool:
        return not self.permanent and (self.action == "delayed" or self.status.startswith("4."))


def _field(block: Message, name: str) -> str:
    return " ".join(str(block.get(name, "")).split())


def _typed_address(value: str) -> str:
    """``rfc822; someone@example.com`` → ``someone@example.com``."""
    address = value.split(";", 1)[-1].strip().strip("<>").lower()
    return address if "@" in address else ""


def _original_id(report: Message) -> str | None:
    for part in report.get_payload() if isinstance(report.get_payload(), list) else []:
        if not isinstance(part, Message):
            continue
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            returned = inner[0] if isinstance(inner, list) and inner else None
        elif ctype == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            returned = email.message_from_bytes(text, policy=compat32) \
                if isinstance(text, bytes) else None
        else:
            continue
        if isinstance(returned, Message):
            found = _MESSAGE_ID.findall(str(returned.get("Message-ID", "")))
            if found:
                return str(found[0])
    return None


def read(message: Message) -> DeliveryReport | None:
    """The report's first recipient block, if ``message`` is a delivery report."""
    if message.get_content_type() != "multipart/report" or \
            str(message.get_param("report-type", "")).lower() != "delivery-status":
        return None
    parts = message.get_payload()
    if not isinstance(parts, list):
        return None
    status_part = next((p for p in parts if isinstance(p, Message)
                        and p.get_content_type() == "message/delivery-status"), None)
    if status_part is None:
        return None
    blocks = status_part.get_payload()
    blocks = blocks if isinstance(blocks, list) else []
    # The first block is about the message; each later one is about a recipient.
    for block in blocks[1:] or blocks:
        if not isinstance(block, Message):
            continue
        action = _field(block, "Action").lower()
        if not action:
            continue
        status = _STATUS.search(_field(block, "Status"))
        return DeliveryReport(
            action=action,
            status=status.group(0) if status else "",
            recipient=_typed_address(_field(block, "Final-Recipient")
                                     or _field(block, "Original-Recipient")),
            diagnostic=_field(block, "Diagnostic-Code").split(";", 1)[-1].strip()[:300],
            original_id=_original_id(message),
        )
    return None
