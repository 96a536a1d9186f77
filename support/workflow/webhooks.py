"""The maker's endpoints and the events posted to them (issue 22).

``emit`` is called inside the transaction of the change it announces: it writes one outbox
row per active endpoint subscribed to the event (``Channel.WEBHOOK``), so an event exists
exactly when its change was committed, and is delivered, retried and dead-lettered by the
worker like any message (notify/webhooks.py: the body, the signature, what is retried).

Admins ``register`` an endpoint (its secret shown once), ``disable`` one (what it had not
been sent yet is dead at once, and the worker reads the endpoint again before each
delivery), and see them ``listed`` with their last delivery.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from tortoise.transactions import in_transaction

from support.data.models import (
    Application,
    Channel,
    DeliveryStatus,
    Notification,
    WebhookEndpoint,
)
from support.notify.webhooks import EVENTS, recipient
from support.platform import logs

log = logging.getLogger("support.workflow")

SECRET_PREFIX = "whsec_"  # noqa: S105 - what the secrets start with, not one
MAX_URL = 500  # WebhookEndpoint.url
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class WebhookRefused(ValueError):
    """An admin's request about endpoints that cannot be done, in words (English: the desk
    is in English)."""


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once, on the page that made it


@dataclass(frozen=True)
class Listed:
    """An endpoint and how its last delivery went (None: nothing sent to it yet)."""

    endpoint: WebhookEndpoint
    last: Notification | None


def _json_ready(value: Any) -> Any:
    """The data as JSON holds it: dates as ISO strings, enums as their values."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot put a {type(value).__name__} in an event")


async def emit(event: str, data: dict[str, Any], *,
               application: Application | None = None) -> int:
    """Queue ``event`` (one of ``EVENTS``) with ``data`` for every active endpoint that
    subscribed to it; answer how many rows were written. The payload each endpoint gets
    is ``{"id", "type", "created_at", "data"}``, ``id`` the same for every endpoint.
    The row is linked to ``application`` when given, else to the application whose
    ``reference`` the data names (for the application's history and erasure)."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    subscribed = [endpoint for endpoint in
                  await WebhookEndpoint.filter(disabled_at=None).order_by("id")
                  if event in endpoint.events]
    if not subscribed:
        return 0
    if application is None and isinstance(data.get("reference"), str):
        application = await Application.get_or_none(reference=data["reference"])
    context: dict[str, Any] = {
        "id": "evt_" + secrets.token_hex(12),
        "type": event,
        "created_at": datetime.now(UTC).isoformat(),
        "data": json.loads(json.dumps(data, default=_json_ready)),
    }
    if (request_id := logs.request_id.get()) is not None:
        context[logs.PRIVATE_REQUEST_ID] = request_id  # the worker logs its sends under it
    now = datetime.now(UTC)
    await Notification.bulk_create([
        Notification(
            application=application, channel=Channel.WEBHOOK,
            recipient=recipient(endpoint.id), template=event, context=context, locale="en",
            next_attempt_at=now, urgent=False,
            idempotency_key=f"{secrets.token_hex(16)}.{Channel.WEBHOOK.value}",
        )
        for endpoint in subscribed
    ])
    return len(subscribed)


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """The address as it will be used, or ``WebhookRefused`` saying what is wrong. HTTPS,
    or plain HTTP to this machine only (a receiver in development, the tests, the demo):
    the events name accounts and the signature does not hide them."""
    url = url.strip()
    if not url:
        raise WebhookRefused("Give the endpoint's address (https://…).")
    if len(url) > MAX_URL or not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        raise WebhookRefused(f"The address must be at most {MAX_URL} characters, with no "
                             "spaces (encode any other character as %XX).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookRefused("That is not a web address the desk can post to.") from None
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"} or not host:
        raise WebhookRefused("The address must start with https:// and name a host.")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("Put no user name or password in the address: the signature "
                             "proves the events are the desk's.")
    if parts.fragment:
        raise WebhookRefused("The address cannot have a #fragment.")
    if parts.scheme == "http" and not _is_loopback(host):
        raise WebhookRefused("Use https:// (plain http:// is allowed only for this machine, "
                             "such as http://127.0.0.1:8080/).")
    if port == 0:
        raise WebhookRefused("That is not a web address the desk can post to.")
    return url


def check_events(events: list[str]) -> list[str]:
    chosen = [event for event in EVENTS if event in set(events)]
    if not chosen or set(events) - set(EVENTS):
        raise WebhookRefused("Choose at least one event among: " + ", ".join(EVENTS) + ".")
    return chosen


async def register(url: str, events: list[str], by: str) -> NewEndpoint:
    """A new endpoint for ``events``; its signing secret is in the answer and shown once."""
    url = check_url(url)
    chosen = check_events(events)
    if await WebhookEndpoint.exists(url=url, disabled_at=None):
        raise WebhookRefused("An endpoint with this address is in use already: disable it "
                             "first to register it again with a new secret.")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    endpoint = await WebhookEndpoint.create(url=url, secret=secret, events=chosen,
                                            created_by=by[:64])
    log.info("webhook endpoint %s registered by %s for %s", endpoint.id, by, ",".join(chosen))
    return NewEndpoint(endpoint, secret)


async def disable(endpoint_id: int, by: str) -> WebhookEndpoint | None:
    """Stop posting to the endpoint: nothing new is queued for it, and what it had not
    been sent yet is dead at once, saying why. None when there is no such endpoint in use."""
    now = datetime.now(UTC)
    async with in_transaction():
        endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id, disabled_at=None)
        if endpoint is None:
            return None
        endpoint.disabled_at = now
        await endpoint.save(update_fields=["disabled_at"])
        await Notification.filter(
            channel=Channel.WEBHOOK, recipient=recipient(endpoint.id),
            status=DeliveryStatus.PENDING,
        ).update(status=DeliveryStatus.DEAD,
                 last_error=f"the endpoint was disabled on {now:%Y-%m-%d %H:%M} UTC: not sent")
    log.info("webhook endpoint %s disabled by %s", endpoint.id, by)
    return endpoint


async def listed() -> list[Listed]:
    """Every endpoint, those in use first, newest first, each with its last delivery."""
    endpoints = await WebhookEndpoint.all().order_by("-id")
    endpoints.sort(key=lambda endpoint: endpoint.disabled_at is not None)
    return [
        Listed(endpoint, await Notification.filter(
            channel=Channel.WEBHOOK, recipient=recipient(endpoint.id)).order_by("-id").first())
        for endpoint in endpoints
    ]

