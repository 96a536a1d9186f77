"""Events posted to the maker's endpoints (issue 22), through the outbox like any message.

An outbox row of the ``webhook`` channel names its endpoint (``recipient`` is
``webhook:<endpoint id>``) and holds the event (``context``: ``id``, ``type``,
``created_at``, ``data``). At each attempt the endpoint is read again, so a disabled
endpoint gets nothing more and a row whose endpoint is gone is dead at once.

Each delivery is a ``POST`` of the event as JSON with three headers:

- ``Support-Webhook-Id``: the event's id, the same on every attempt and for every endpoint
  (a receiver drops the copy it has seen: delivery is at least once);
- ``Support-Webhook-Timestamp``: when this attempt was signed, in Unix seconds;
- ``Support-Webhook-Signature``: ``t=<timestamp>,v1=<hex HMAC-SHA256 of
  "<timestamp>.<body>" keyed by the endpoint's secret>`` (the scheme of Stripe's
  ``Stripe-Signature``; ``verify`` is the reference check).

What counts: a 2xx answer within ``TIMEOUT`` seconds is delivered. Every other answer is
retried with the outbox's back-off, as Stripe and Svix do: a receiver's 4xx is most often its
own passing fault (a deploy, a rotated secret, an auth proxy), and the maker expects the
events once it is fixed, not a hole. ``410 Gone`` alone says "never send this here again":
dead at once. A refused connection or a timeout is retried too, and the endpoint's other
events in the batch are not tried (each would wait out the same timeout)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx2

from support.data.ids import parse_id
from support.data.models import WebhookEndpoint
from support.notify.backends import DeliveryError

# The events an endpoint may subscribe to, in the order the admin page offers them.
EVENTS = ("application.decided", "permission.granted", "permission.redeemed",
          "permission.revoked")

ID_HEADER = "Support-Webhook-Id"
TIMESTAMP_HEADER = "Support-Webhook-Timestamp"
SIGNATURE_HEADER = "Support-Webhook-Signature"
RECIPIENT_PREFIX = "webhook:"
# Seconds for one delivery, connecting included: a maker's endpoint must answer quickly
# (and do its work after answering), and the worker has applicants' messages to send.
TIMEOUT = 5.0
# How old a signed timestamp a receiver should accept (``verify``).
TOLERANCE = 300
# Keys of the outbox row's context that are the event; anything else (the request id the
# worker logs under) stays on the desk.
EVENT_KEYS = ("id", "type", "created_at", "data")


def recipient(endpoint_id: int) -> str:
    return f"{RECIPIENT_PREFIX}{endpoint_id}"


def endpoint_id_of(recipient_: str) -> int | None:
    """The endpoint an outbox row names, or None for anything else."""
    if not recipient_.startswith(RECIPIENT_PREFIX):
        return None
    return parse_id(recipient_.removeprefix(RECIPIENT_PREFIX))


def body_of(context: dict[str, Any]) -> bytes:
    """The event as posted: the same bytes at every attempt, so the id and the signature
    always describe what was sent."""
    event = {key: context.get(key) for key in EVENT_KEYS}
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed by ``secret``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = TOLERANCE,
           now: float | None = None) -> bool:
    """What a receiver does: the header's timestamp is recent and one of its ``v1``
    signatures is the HMAC of ``"<t>.<body>"`` (compared in constant time)."""
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    stamps = [value for key, value in parts if key.strip() == "t"]
    signatures = [value.strip() for key, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not signatures:
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected.encode(), candidate.encode())
               for candidate in signatures)


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt's worth of a row: where (by endpoint id) and what."""

    endpoint_id: int | None
    event_id: str
    body: bytes


def delivery_of(recipient_: str, context: dict[str, Any]) -> WebhookDelivery:
    return WebhookDelivery(endpoint_id_of(recipient_), str(context.get("id") or ""),
                           body_of(context))


class WebhookBackend:
    """Posts one event to its endpoint, read at the moment of sending."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout

    async def endpoint(self, delivery: WebhookDelivery) -> WebhookEndpoint:
        """The endpoint to post to, or a permanent failure saying why there is none."""
        if delivery.endpoint_id is None:
            raise DeliveryError("not a webhook endpoint's address", permanent=True)
        endpoint = await WebhookEndpoint.get_or_none(id=delivery.endpoint_id)
        if endpoint is None:
            raise DeliveryError("the endpoint no longer exists: not sent", permanent=True)
        if endpoint.disabled_at is not None:
            raise DeliveryError(
                f"the endpoint was disabled on {endpoint.disabled_at:%Y-%m-%d %H:%M} UTC: "
                "not sent", permanent=True)
        return endpoint

    async def send(self, delivery: WebhookDelivery) -> None:
        endpoint = await self.endpoint(delivery)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "support-desk-webhooks/1",
            ID_HEADER: delivery.event_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(endpoint.secret, timestamp, delivery.body),
        }
        try:
            # The whole exchange within the timeout: httpx2's own is per read, and an
            # endpoint trickling its answer a byte at a time would hold the worker.
            async with (
                asyncio.timeout(self.timeout),
                httpx2.AsyncClient(timeout=self.timeout, follow_redirects=False) as http,
                http.stream("POST", endpoint.url, content=delivery.body,
                            headers=headers) as answer,
            ):
                status = answer.status_code
                excerpt = await _excerpt(answer) if not 200 <= status < 300 else ""
        except TimeoutError as exc:
            raise DeliveryError(f"no answer within {self.timeout:g} s",
                                unreachable=True) from exc
        except httpx2.TimeoutException as exc:
            raise DeliveryError(f"no answer within {self.timeout:g} s",
                                unreachable=True) from exc
        except httpx2.TransportError as exc:
            raise DeliveryError(f"endpoint unreachable: {type(exc).__name__}",
                                unreachable=True) from exc
        if 200 <= status < 300:
            return
        said = f"endpoint answered HTTP {status}" + (f": {excerpt}" if excerpt else "")
        if 300 <= status < 400:
            said += " (redirects are not followed: register the final address)"
        raise DeliveryError(said, permanent=status == 410)


async def _excerpt(answer: httpx2.Response, limit: int = 200) -> str:
    """The start of a refusal's body, for the delivery log; never the whole of a large one."""
    taken = b""
    async for chunk in answer.aiter_bytes():
        taken += chunk
        if len(taken) >= limit:
            break
    text = taken[:limit].decode("utf-8", "replace")
    return " ".join(text.split())
