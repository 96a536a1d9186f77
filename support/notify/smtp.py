"""Email through a real SMTP relay with aiosmtplib.

One connection serves a whole batch (``begin``/``end`` around it) instead of a handshake
per message. Failures are sorted for the worker: a 5xx answer about the recipient or the
message is permanent (retrying cannot help); refused connections, timeouts and 4xx are
transient and retried with back-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

import aiosmtplib
from aiosmtplib import errors

from support.notify.backends import DeliveryError


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"  # none | starttls | tls (implicit, usually port 465)
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    reply_to: str = ""


def classify(error: Exception) -> DeliveryError:
    """Turn aiosmtplib's exceptions into the worker's outcomes: permanent, transient, and
    transient because the server itself is out of reach (the worker then stops trying
    that channel for the rest of the batch)."""
    if isinstance(error, errors.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in error.recipients]
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        answers = "; ".join(f"{r.code} {r.message}" for r in error.recipients)
        return DeliveryError(answers[:300] or "recipient refused", permanent=permanent)
    if isinstance(error, (errors.SMTPConnectResponseError, errors.SMTPHeloError)):
        # The server turned the session down (greeting, EHLO), not this message: a 5xx
        # here would otherwise mark every message of the batch dead.
        return DeliveryError(f"{error.code} {error.message}"[:300], unreachable=True)
    if isinstance(error, errors.SMTPResponseException):
        return DeliveryError(f"{error.code} {error.message}"[:300],
                             permanent=500 <= error.code < 600)
    if isinstance(error, (OSError, TimeoutError)):  # aiosmtplib's disconnects and timeouts too
        return DeliveryError(f"{type(error).__name__}: {error}"[:300], unreachable=True)
    if isinstance(error, errors.SMTPException):
        return DeliveryError(f"{type(error).__name__}: {error}"[:300], permanent=False)
    return DeliveryError(f"{type(error).__name__}: {error}"[:300], permanent=False)


class SmtpEmailBackend:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._client: aiosmtplib.SMTP | None = None

    def _new_client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host, port=s.port, timeout=s.timeout,
            use_tls=s.security == "tls", start_tls=s.security == "starttls",
            username=s.username or None, password=s.password or None,
        )

    async def begin(self) -> None:
        """Nothing yet: connect on the first message, so an empty batch costs nothing."""

    async def end(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (errors.SMTPException, OSError, TimeoutError):
                client.close()

    async def send(self, message: Message) -> None:
        if self.settings.reply_to and "Reply-To" not in message:
            message["Reply-To"] = self.settings.reply_to
        try:
            if self._client is None or not self._client.is_connected:
                self._client = self._new_client()
                await self._client.connect()
            await self._client.send_message(message)
        except Exception as exc:  # noqa: BLE001 - every failure is classified for the worker
            if self._client is not None and not isinstance(
                exc, (errors.SMTPRecipientsRefused, errors.SMTPDataError)
            ):
                self._client.close()  # the connection's state is unknown: start afresh
                self._client = None
            raise classify(exc) from exc
