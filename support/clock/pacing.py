"""Giving way to the front door in a burst.

The worker shares its machine's cores with the web processes (docs/deploy.md). When
applications pour in (a quota resets, a model ships), every millisecond it spends sending
is one that a web process waits for a CPU: in B1 the web process waited for a CPU a fifth
of the time with the worker sending beside it at ``nice 10``, and 1% without it. A lower
priority does not prevent it: the web process's PostgreSQL backend and the kernel's work
for the worker's writes run at the normal one.

So the worker looks at how long it waited for a CPU itself while it ran. If it waited at
least as long as it ran (others want the cores), it sends one batch of messages a tick
instead of taking the next at once, and re-encodes one photo a tick instead of spending
up to a second on them
(``documents.filing.sanitise_pending``), unless the oldest of that work has waited
``worker_yield_seconds``: load never holds anything back longer than that. Alone on its
machine, or on a quiet one, it never waits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.config import Settings
from support.data.models import DeliveryStatus, Notification

# Linux's per-thread scheduler statistics: nanoseconds run, nanoseconds waited on a run
# queue, time slices. Read from the event loop's own thread.
SCHEDSTAT = Path("/proc/thread-self/schedstat")

# Waiting this long for a CPU per second run means others want the cores. Measured on a
# 2-core VM: alone on a quiet machine the worker waits 5–65% of the time it runs (its own
# PostgreSQL backend and file threads share the cores with it: bench/b1_worker.py);
# beside B1's burst, 100–250%. At 25% it gave way to itself, and a quiet worker sent one
# batch a second (4,000 messages in 33 s instead of 5).
CONTENDED = 1.0


# A verdict needs this much running time behind it: a look right after the last one
# (the documents' check after the messages') keeps the last verdict.
MIN_RUN_NS = 5_000_000


class Contention:
    """Whether this thread waited for a CPU, since the verdict before, at least
    ``CONTENDED`` of the time it ran. Where the kernel does not say (not Linux, no
    schedstat), never contended."""

    def __init__(self, path: Path = SCHEDSTAT) -> None:
        self._path = path
        self._last = self._read()
        self._verdict = False

    def _read(self) -> tuple[int, int] | None:
        try:
            ran, waited, _slices = self._path.read_text().split()
            return int(ran), int(waited)
        except (OSError, ValueError):
            return None

    def contended(self) -> bool:
        now, last = self._read(), self._last
        if now is None or last is None:
            return False
        if now[0] - last[0] >= MIN_RUN_NS:
            self._verdict = (now[1] - last[1]) / (now[0] - last[0]) >= CONTENDED
            self._last = now
        return self._verdict


def _yielding(settings: Settings, contention: Contention) -> bool:
    return settings.worker_yield_seconds > 0 and contention.contended()


def _young(settings: Settings, since: datetime | None) -> bool:
    """Whether work waiting since then (None: nothing waits) is under the limit."""
    return since is None or (
        datetime.now(UTC) - since < timedelta(seconds=settings.worker_yield_seconds))


def may_wait(settings: Settings, contention: Contention, since: datetime | None) -> bool:
    """True when work waiting ``since`` then may be left to a later tick: the cores are
    contended and it has not waited ``worker_yield_seconds`` yet."""
    return _yielding(settings, contention) and _young(settings, since)


async def give_way(settings: Settings, contention: Contention) -> bool:
    """After a batch of messages: leave what is due to the next tick? The oldest due
    message is one query on the outbox's ``(status, next_attempt_at)`` index, made only
    when the cores are contended."""
    if not _yielding(settings, contention):
        return False
    oldest: list[datetime] = await (Notification.filter(status=DeliveryStatus.PENDING)
                                    .order_by("next_attempt_at").limit(1)
                                    .values_list("next_attempt_at", flat=True))  # type: ignore[assignment]
    return _young(settings, oldest[0] if oldest else None)
