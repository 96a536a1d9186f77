"""``support mail-in``: an LMTP server (RFC 2033) a mail server delivers the desk's mail to.

LMTP, not SMTP: the mail server (Postfix, Dovecot) keeps the queue and the retries, and
LMTP answers for each recipient after the message is taken, so a message is either taken
(250) or still the mail server's to deliver again (451): never lost, never taken twice
(the receipt key is the message's digest, ``workflow.mail.lmtp_key``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import Envelope, Session

from support.config import Settings
from support.mailin.taking import Taker
from support.workflow.mail import lmtp_key

log = logging.getLogger("support.mail")

TAKEN = "250 2.0.0 Message taken"
TRY_LATER = "451 4.3.0 The desk cannot take mail just now; try again later"


class Handler:
    def __init__(self, taker: Taker) -> None:
        self.taker = taker

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        envelope.original_content = envelope.content = None  # one copy held, not two
        try:
            await self.taker.take(raw, lmtp_key(raw), list(envelope.rcpt_tos))
            status = TAKEN
        except Exception:  # noqa: BLE001 - the mail server keeps it and tries again
            log.exception("a message could not be taken; the mail server will retry")
            status = TRY_LATER
        # LMTP answers DATA once per recipient (RFC 2033 4.2); one message is one take.
        return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))


async def serve(settings: Settings, taker: Taker, host: str, port: int,
                stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Listen until ``stop`` is set; a delivery in progress is finished first."""
    handler = Handler(taker)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: LMTP(handler, data_size_limit=settings.mail_max_bytes, enable_SMTPUTF8=True,
                     decode_data=False, hostname="support-desk", ident="support mail-in"),
        host=host, port=port)
    log.info("mail-in listening on %s:%s (LMTP)", host, port)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
