"""What the desk counts, for Prometheus (served at ``/metrics`` by ``web/metrics.py``).

Labels come from small fixed sets only (kinds, outcomes, channels, route templates,
status codes), never from what a request carries: a label holding a reference, a token or
a phone number would put personal data in the monitoring system and let anyone make the
series count grow without bound.

Counters are process-wide objects. Under ``support serve`` and ``support worker`` they live
in prometheus-client's multiprocess files (``support.platform.metrics_dir``), elsewhere (tests,
bench) in memory; nothing here imports prometheus-client until a metric is first used.
The calls below are the only way code touches them: one line where something happened,
and a cached child per label set, so the busiest path pays a dict look-up, not a label
validation.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
TICK = "support_worker_last_tick_timestamp_seconds"


@dataclass(frozen=True)
class Metrics:
    requests: Any
    latency: Any
    submissions: Any
    decisions: Any
    deliveries: Any
    worker_tick: Any
    mail: Any


@functools.cache
def registered() -> Metrics:
    """The metrics, made on first use rather than on import: prometheus-client fixes each
    value's storage (memory, or the multiprocess files) when the value is made, and
    ``support.cli`` may import this module before it has chosen the directory."""
    # Here, not at the top: see the docstring (the mode is fixed on import).
    from prometheus_client import Counter, Gauge, Histogram

    return Metrics(
        requests=Counter(
            "support_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
        ),
        latency=Histogram(
            "support_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by method and route "
            "template.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        ),
        submissions=Counter(
            "support_submissions", "Applications created (forms sent, appeals), by kind.",
            ["kind"],
        ),
        decisions=Counter(
            "support_decisions",
            "Reviewer decisions, by application kind and outcome (approve, reject, "
            "request_info).",
            ["kind", "outcome"],
        ),
        deliveries=Counter(
            "support_deliveries",
            "Delivery attempts, by channel and outcome: sent, failed (will be retried), dead.",
            ["channel", "outcome"],
        ),
        worker_tick=Gauge(
            TICK,
            "When a delivery worker last finished a pass over the outbox (Unix time; the "
            "newest of all worker processes).",
            multiprocess_mode="max",
        ),
        mail=Counter(
            "support_mail_taken",
            "Messages taken in by support mail-in or mail-fetch, by what became of them "
            "(reply, message, report, automatic, unmatched, unreadable, oversize).",
            ["outcome"],
        ),
    )


_requests: dict[tuple[str, str, int], Any] = {}
_latency: dict[tuple[str, str], Any] = {}
_counted: dict[tuple[str, tuple[str, ...]], Any] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """One answered request. ``route`` is a template ("/status/{token}") or UNMATCHED."""
    if method not in METHODS:
        method = "other"
    key = (method, route, status)
    counter = _requests.get(key)
    if counter is None:
        counter = _requests[key] = registered().requests.labels(method, route, str(status))
    counter.inc()
    timing = _latency.get(key[:2])
    if timing is None:
        timing = _latency[key[:2]] = registered().latency.labels(method, route)
    timing.observe(seconds)


def _inc(name: str, *labels: str) -> None:
    child = _counted.get((name, labels))
    if child is None:
        child = _counted[(name, labels)] = getattr(registered(), name).labels(*labels)
    child.inc()


def submitted(kind: str) -> None:
    _inc("submissions", kind)


def decided(kind: str, outcome: str) -> None:
    _inc("decisions", kind, outcome)


def delivery(channel: str, outcome: str) -> None:
    _inc("deliveries", channel, outcome)


def mail_taken(outcome: str) -> None:
    _inc("mail", outcome)


def worker_ticked() -> None:
    registered().worker_tick.set(time.time())
