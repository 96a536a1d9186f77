"""Delivering the outbox.

A batch is claimed by pushing its rows' ``next_attempt_at`` a lease into the future in a
short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so parallel workers take
different rows). Sending happens outside any transaction; a worker that dies after
sending but before marking leaves the row to be sent again when the lease runs out:
at-least-once, with a stable Message-ID for receivers to drop the copy.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from tortoise.transactions import in_transaction

from support.config import Settings
from support.data.models import Channel, DeliveryStatus, Event, Notification
from support.data.rows import update_each
from support.notify.backends import (
    DeliveryError,
    EmailBackend,
    FileEmailBackend,
    LogSmsBackend,
    SmsBackend,
    build_email,
)
from support.notify.outbox import BACKOFF, SECRET_KEYS
from support.notify.render import render_email, render_sms
from support.notify.sms_http import GatewaySettings, HttpSmsBackend
from support.notify.smtp import SmtpEmailBackend, SmtpSettings
from support.notify.webhooks import WebhookBackend, WebhookDelivery, delivery_of
from support.platform import logs, metrics, tokens

log = logging.getLogger("support.worker")


@dataclass
class Backends:
    email: EmailBackend
    sms: SmsBackend
    # The maker's endpoints (notify/webhooks.py): each row names its own, read when sent.
    webhook: WebhookBackend = field(default_factory=WebhookBackend)

    @classmethod
    def from_settings(cls, settings: Settings) -> Backends:
        email: EmailBackend = FileEmailBackend(settings.mail_dir)
        if settings.email_backend == "smtp":
            email = SmtpEmailBackend(SmtpSettings(
                host=settings.smtp_host, port=settings.smtp_port,
                security=settings.smtp_security, username=settings.smtp_username,
                password=settings.smtp_password, timeout=settings.smtp_timeout,
                reply_to=settings.email_reply_to,
            ))
        sms: SmsBackend = LogSmsBackend(settings.sms_log)
        if settings.sms_backend == "http":
            to_field, text_field, id_field = settings.sms_http_fields
            sms = HttpSmsBackend(GatewaySettings(
                url=settings.sms_http_url, token=settings.sms_http_token,
                to_field=to_field, text_field=text_field, id_field=id_field,
            ))
        return cls(email=email, sms=sms)


def next_delay(attempts: int) -> timedelta:
    """Exponential steps with ±10% jitter so retries of a burst do not arrive together."""
    base = BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]
    return base * random.uniform(0.9, 1.1)


def lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.delivery_lease_seconds)


async def claim_batch(
    settings: Settings, limit: int, *, urgent_only: bool = False
) -> list[Notification]:
    """Due rows, oldest first, leased to this worker. ``urgent_only``: codes and status
    links alone (on ``notification_urgent_idx``), which the loop drains before the rest."""
    now = datetime.now(UTC)
    async with in_transaction():
        query = Notification.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        if urgent_only:
            query = query.filter(urgent=True)
        query = query.order_by("next_attempt_at", "id").limit(limit)
        if settings.is_postgres:
            query = query.select_for_update(skip_locked=True)
        rows = await query
        if rows:
            await Notification.filter(id__in=[row.id for row in rows]).update(
                next_attempt_at=now + lease(settings)
            )
    return list(rows)


def _payload(
    settings: Settings, row: Notification
) -> Message | tuple[str, str] | WebhookDelivery:
    """What the channel's backend sends for this row: an email, an SMS's number and text,
    or an event for a maker's endpoint."""
    if row.channel is Channel.WEBHOOK:
        return delivery_of(row.recipient, row.context)
    if row.channel is Channel.EMAIL:
        context = {**row.context, "replies_read": settings.email_replies}
        content = render_email(row.template, context, row.locale)
        domain = urlsplit(settings.base_url).hostname or "localhost"
        return build_email(sender=settings.email_from, to=row.recipient, content=content,
                           key=row.idempotency_key, domain=domain,
                           reply_to=reply_address(settings, row),
                           in_reply_to=str(row.context.get("in_reply_to") or ""))
    return row.recipient, render_sms(row.template, row.context, row.locale)


def reply_address(settings: Settings, row: Notification) -> str:
    """Where the applicant's answer to this email goes: the desk's reply address with the
    application's signed token (``support+TOKEN@…``, issue 23), read by ``support
    mail-in`` or ``support mail-fetch``. "" for mail that belongs to no application."""
    reference = row.context.get("reference")
    if row.application_id is None or not isinstance(reference, str):  # type: ignore[attr-defined]
        return ""
    return tokens.plus_address(desk_address(settings),
                               tokens.reply_token(settings.secret_key, reference))


def desk_address(settings: Settings) -> str:
    """The desk's own address: replies go to it, and mail from it is never answered."""
    return parseaddr(settings.email_reply_to or settings.email_from)[1].lower()


async def _send(settings: Settings, backends: Backends, row: Notification) -> None:
    payload = _payload(settings, row)
    if isinstance(payload, WebhookDelivery):
        await backends.webhook.send(payload)
    elif isinstance(payload, tuple):
        await backends.sms.send(*payload)
    else:
        await backends.email.send(payload)


# Sent rows are marked in groups of this many, one statement each: marking them one by
# one was an UPDATE and a commit a message, a fifth of the worker's CPU in a burst
# (bench/b1_worker.py). A worker that dies before marking leaves at most this many sent
# messages of a channel to be sent again when their lease runs out (at-least-once).
MARK_EVERY = 10


def _sent(row: Notification) -> None:
    """The row as it is marked: secrets wiped from its context, its attempt counted."""
    row.status = DeliveryStatus.SENT
    row.sent_at = datetime.now(UTC)
    row.attempts += 1
    row.context = {k: ("[sent]" if k in SECRET_KEYS else v) for k, v in row.context.items()}
    row.last_error = ""


async def _mark_sent(rows: list[Notification]) -> None:
    await update_each(rows, ("status", "sent_at", "attempts", "context", "last_error"))


async def _mark_failed(row: Notification, error: Exception) -> None:
    attempts = row.attempts + 1
    permanent = isinstance(error, DeliveryError) and error.permanent
    text = (str(error) if isinstance(error, DeliveryError)
            else f"{type(error).__name__}: {error}")[:500]
    log_entries = [*row.attempt_log, {"at": datetime.now(UTC).isoformat(), "error": text}]
    if permanent or attempts > len(BACKOFF):
        async with in_transaction():
            await Notification.filter(id=row.id).update(
                status=DeliveryStatus.DEAD, attempts=attempts, last_error=text,
                attempt_log=log_entries[-20:],
            )
            if row.application_id is not None:  # type: ignore[attr-defined]
                await Event.create(
                    application_id=row.application_id,  # type: ignore[attr-defined]
                    actor="system", type="delivery_failed", internal=True,
                    message=f"Could not deliver the {row.template} {row.channel.value}: {text}",
                )
        metrics.delivery(row.channel.value, "dead")
        log.warning("notification %s dead after %s attempts", row.id, attempts)
        return
    metrics.delivery(row.channel.value, "failed")
    log.warning("notification %s attempt %s failed: %s", row.id, attempts, text)
    await Notification.filter(id=row.id).update(
        attempts=attempts, last_error=text, attempt_log=log_entries[-20:],
        next_attempt_at=datetime.now(UTC) + next_delay(attempts),
    )


async def deliver_due(
    settings: Settings, backends: Backends, limit: int = 50, stop: asyncio.Event | None = None,
    *, urgent_only: bool = False,
) -> int:
    """Send what is due; return how many were sent. When ``stop`` is set mid-batch, the
    message in hand is finished and the rest of the batch is handed back at once.

    Each channel's rows go out in a task of their own: a mail relay that accepts and
    then never answers holds each message for the whole SMTP timeout, and the codes by
    SMS must not queue behind it (tests/test_faults.py). The maker's endpoints have a
    share of their own too, bounded in time (``_deliver_webhooks``)."""
    rows = await claim_batch(settings, limit, urgent_only=urgent_only)
    if not rows:
        return 0
    begin = getattr(backends.email, "begin", None)
    if begin is not None:
        await begin()
    try:
        counts = await asyncio.gather(*(
            (_deliver_webhooks if channel is Channel.WEBHOOK else _deliver_channel)(
                settings, backends, [r for r in rows if r.channel is channel], stop)
            for channel in Channel
        ))
    finally:
        end = getattr(backends.email, "end", None)
        if end is not None:
            await end()  # one SMTP connection per batch, closed with it
    return sum(counts)


async def _deliver_channel(
    settings: Settings, backends: Backends, rows: list[Notification], stop: asyncio.Event | None
) -> int:
    """One channel's share of a batch, in order. Once its server could not be reached at
    all, the rest of the share is not tried: each would wait out the same timeout, and a
    batch that outlives its lease is claimed again by another worker and sent twice. They
    are recorded as failed with that error and retried with the same back-off."""
    if not rows:
        return 0
    backend = backends.email if rows[0].channel is Channel.EMAIL else backends.sms
    send_many = getattr(backend, "send_many", None)
    if send_many is not None:
        return await _deliver_together(settings, send_many, rows, stop)
    sent = 0
    unreachable: DeliveryError | None = None
    unmarked: list[Notification] = []
    try:
        for index, row in enumerate(rows):
            if stop is not None and stop.is_set():
                await Notification.filter(id__in=[r.id for r in rows[index:]]).update(
                    next_attempt_at=datetime.now(UTC)
                )
                break
            if unreachable is not None:
                await _mark_failed(row, DeliveryError(
                    f"not tried, the server was unreachable: {unreachable}"))
                continue
            error = await _send_one(settings, backends, row)
            if error is not None:
                if isinstance(error, DeliveryError) and error.unreachable:
                    unreachable = error
                continue
            unmarked.append(row)
            if len(unmarked) >= MARK_EVERY:
                await _mark_sent(unmarked)
                unmarked = []
            sent += 1
    finally:
        await _mark_sent(unmarked)
    return sent


# The longest a batch's webhooks may keep starting new deliveries, in seconds. The batch
# ends when its slowest channel does, and the worker drains the codes again only between
# batches: a maker's endpoint answering slowly (each up to ``webhooks.TIMEOUT``) must not
# make an applicant wait for a code. What is not started by then goes back to the outbox,
# due at once and not counted as an attempt, and is the first of the next batch.
WEBHOOK_SHARE_SECONDS = 3.0


async def _deliver_webhooks(
    settings: Settings, backends: Backends, rows: list[Notification], stop: asyncio.Event | None
) -> int:
    """The batch's events: each endpoint's in order, the endpoints side by side, so one
    slow or unreachable endpoint holds up no other. As for a channel's server, once an
    endpoint could not be reached the rest of its events are not tried but recorded as
    failed with that error."""
    if not rows:
        return 0
    by_endpoint: dict[str, list[Notification]] = {}
    for row in rows:
        by_endpoint.setdefault(row.recipient, []).append(row)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WEBHOOK_SHARE_SECONDS
    sent: list[Notification] = []
    handed_back: list[Notification] = []

    async def one_endpoint(share: list[Notification]) -> None:
        unreachable: DeliveryError | None = None
        for index, row in enumerate(share):
            if (stop is not None and stop.is_set()) or loop.time() >= deadline:
                handed_back.extend(share[index:])
                return
            if unreachable is not None:
                await _mark_failed(row, DeliveryError(
                    f"not tried, the endpoint was unreachable: {unreachable}"))
                continue
            error = await _send_one(settings, backends, row)
            if error is None:
                sent.append(row)
            elif isinstance(error, DeliveryError) and error.unreachable:
                unreachable = error

    try:
        await asyncio.gather(*(one_endpoint(share) for share in by_endpoint.values()))
    finally:
        await _mark_sent(sent)
        if handed_back:
            await Notification.filter(id__in=[r.id for r in handed_back]).update(
                next_attempt_at=datetime.now(UTC))
    return len(sent)


async def _deliver_together(
    settings: Settings, send_many: Callable[[list[Any]], Awaitable[list[Exception | None]]],
    rows: list[Notification], stop: asyncio.Event | None,
) -> int:
    """A channel's share of a batch through a backend that takes a batch at once (the
    file and log backends of ``make run``): one trip to a thread for all of them."""
    if stop is not None and stop.is_set():
        await Notification.filter(id__in=[r.id for r in rows]).update(
            next_attempt_at=datetime.now(UTC))
        return 0
    ready: list[tuple[Notification, Any]] = []
    for row in rows:
        try:
            ready.append((row, _payload(settings, row)))
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
            await _mark_failed(row, exc)
    outcomes = await send_many([payload for _, payload in ready])
    sent: list[Notification] = []
    for (row, _), error in zip(ready, outcomes, strict=True):
        if error is not None:
            await _mark_failed(row, error)
            continue
        with logs.bound_request_id(row.context.get(logs.PRIVATE_REQUEST_ID)):
            _record_sent(row)
        _sent(row)
        sent.append(row)
    await _mark_sent(sent)
    return len(sent)


async def _send_one(settings: Settings, backends: Backends, row: Notification) -> Exception | None:
    """Send one row, under the id of the request that queued it. A failure is recorded on
    the row and returned; a success is counted, logged and made ready to be marked."""
    with logs.bound_request_id(row.context.get(logs.PRIVATE_REQUEST_ID)):
        try:
            await _send(settings, backends, row)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
            await _mark_failed(row, exc)
            return exc
        _record_sent(row)
    _sent(row)
    return None


def _record_sent(row: Notification) -> None:
    """Counted, and one log line a message, under the id of the request that queued it
    (bound by the caller)."""
    metrics.delivery(row.channel.value, "sent")
    reference = row.context.get("reference", "")
    log.info("notification %s sent: %s by %s for %s", row.id, row.template,
             row.channel.value, reference, extra={
                 "notification_id": row.id, "template": row.template,
                 "channel": row.channel.value, "reference": reference,
             })
