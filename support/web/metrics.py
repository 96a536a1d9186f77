"""``GET /metrics`` for Prometheus, the middleware that times every request, and the
gauges read from the database when Prometheus scrapes.

Access: with ``SUPPORT_METRICS_TOKEN`` set, only ``Authorization: Bearer <token>``; without
it, only clients on this machine whose request did not pass through a proxy (a request
nginx forwards from the internet arrives from 127.0.0.1 too, but carries
``X-Forwarded-For``). The numbers are not personal, but queue depth and traffic are the
maker's business, and a scrape runs a few queries.

Gauges about the database are computed at scrape time with bounded, indexed queries, so
they are right whichever process (web or worker) changed the rows: queue depth per kind
(``queue.capped_count`` on ``application_scope_idx``, stopping at 10,001), and the age of
the oldest notification that is due and not sent (``notification_due_idx``, one row).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from support.data.models import Application, DeliveryStatus, Notification, Status
from support.platform import metrics
from support.platform.metrics_dir import ENV
from support.reads.queue import COUNT_CAP, capped_count
from support.rules.kinds import KINDS

PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


class MetricsMiddleware:
    """Counts and times each request under its route template, read from the route
    Starlette matched (``scope["route"]``): never the raw path, which holds status tokens
    and references. Pure ASGI; two cached look-ups a request (``metrics.observe_request``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # until a response starts: an exception before it is a 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or metrics.UNMATCHED
            metrics.observe_request(scope["method"], route, status,
                                    time.perf_counter() - started)


def is_local(request: Request) -> bool:
    """A client on this machine that did not come through a proxy."""
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(request: Request, token: str) -> Response | None:
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode()):
            return None
        return PlainTextResponse("A bearer token is required (SUPPORT_METRICS_TOKEN).\n", 401,
                                 headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if is_local(request):
        return None
    return PlainTextResponse(
        "Metrics are answered to this machine only; set SUPPORT_METRICS_TOKEN to scrape "
        "from elsewhere (docs/deploy.md).\n", 403,
    )


@dataclass(frozen=True)
class Snapshot:
    """The values read from the database for one scrape."""

    queue_depth: dict[str, int]
    oldest_due_seconds: float


async def read_snapshot() -> Snapshot:
    depth = {kind: await capped_count(Application.filter(status=Status.QUEUED, kind=kind))
             for kind in KINDS}
    now = datetime.now(UTC)
    oldest = await Notification.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).order_by("next_attempt_at").first().values_list("next_attempt_at", flat=True)
    age = (now - oldest).total_seconds() if isinstance(oldest, datetime) else 0.0
    return Snapshot(queue_depth=depth, oldest_due_seconds=max(age, 0.0))


class _Scrape:
    """The process's (or, in multiprocess mode, every process's) metrics plus the
    snapshot's gauges, as one collector for ``generate_latest``."""

    def __init__(self, families: list[Metric], snapshot: Snapshot) -> None:
        self.families = families
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from self.families
        depth = GaugeMetricFamily(
            "support_queue_depth",
            f"Applications waiting for a reviewer (queued), by kind; counting stops at "
            f"{COUNT_CAP + 1}.", labels=["kind"],
        )
        for kind, count in self.snapshot.queue_depth.items():
            depth.add_metric([kind], count)
        yield depth
        yield GaugeMetricFamily(
            "support_outbox_oldest_due_seconds",
            "Age of the oldest notification that is due and not yet sent (0: none waiting).",
            value=self.snapshot.oldest_due_seconds,
        )
        tick = newest_tick(self.families)
        if tick:
            yield GaugeMetricFamily(
                "support_worker_last_tick_age_seconds",
                "Seconds since a delivery worker last finished a pass over the outbox "
                "(absent: no worker has run since the metrics directory was cleaned).",
                value=max(time.time() - tick, 0.0),
            )


def newest_tick(families: Iterable[Metric]) -> float:
    return max((sample.value for family in families if family.name == metrics.TICK
                for sample in family.samples), default=0.0)


def exposition(snapshot: Snapshot) -> bytes:
    metrics.registered()  # every metric is listed, at zero, before anything happened
    if os.environ.get(ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        families = list(registry.collect())
    else:
        families = list(REGISTRY.collect())
    return generate_latest(_Scrape(families, snapshot))


async def metrics_page(request: Request) -> Response:
    denied = refusal(request, request.app.state.settings.metrics_token)
    if denied is not None:
        return denied
    body = exposition(await read_snapshot())
    return Response(body, media_type=CONTENT_TYPE_LATEST,
                    headers={"cache-control": "no-store"})
