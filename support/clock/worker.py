"""The worker: two loops side by side, messages in one, upkeep in the other.

A code never waits behind bulk work: the messages loop sends codes and status links first,
all of them, whatever the load, then the rest of the outbox, and sleeps only when nothing
is due. The upkeep loop runs the clock's jobs once a minute and files documents (a photo's
re-encoding takes up to a second), at its own pace, so neither holds the other up.

It runs inside the web process by default (``SUPPORT_INPROCESS_WORKER``) or as
``support worker`` processes, any number of them: every step claims its rows, so two
workers never do the same thing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from support.clock import jobs, pacing, reading
from support.config import Settings
from support.data import db
from support.documents.filing import sanitise_pending
from support.notify.delivery import Backends, deliver_due
from support.platform import metrics

log = logging.getLogger("support.worker")

JOBS_EVERY = 60.0  # seconds between runs of the clock's jobs (``jobs.run_all``)
# The longest wait between tries while the database is away: codes queued during an outage
# go out at most this long after it ends (tests/test_faults.py gives them 20 s after two
# restarts; at 30 s they missed it).
OUTAGE_MAX_WAIT = 5.0


async def run(settings: Settings, backends: Backends, stop: asyncio.Event) -> None:
    """Until ``stop`` is set: the messages loop and the upkeep loop, each ticking every
    ``worker_interval`` seconds when it has nothing to do."""
    contention = pacing.Contention()

    async def messages() -> None:
        await _deliver(settings, backends, stop, contention)
        metrics.worker_ticked()

    last_jobs: list[float] = []

    async def upkeep() -> None:
        now = asyncio.get_running_loop().time()
        if not last_jobs or now - last_jobs[0] > JOBS_EVERY:
            await jobs.run_all(settings)
            last_jobs[:] = [now]
        # before any reviewer sees them
        filed = await sanitise_pending(settings, stop=stop, may_wait=lambda since:
                                       pacing.may_wait(settings, contention, since))
        # Then what the documents say, for the reviewer's page (issue 26), once nothing
        # waits to be filed: filing is what lets a reviewer open a document at all.
        if not filed:
            await reading.read_pending(settings, stop=stop, busy=lambda: pacing.may_wait(
                settings, contention, None))

    await asyncio.gather(_every_tick(settings, stop, "messages", messages),
                         _every_tick(settings, stop, "upkeep", upkeep))


async def _every_tick(settings: Settings, stop: asyncio.Event, name: str,
                      tick: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """``tick``, then a sleep of ``worker_interval`` (cut short by ``stop``), until stopped.
    A failure is logged and the loop goes on at the next tick.

    While the database is unavailable (``db.unavailable``) a failure is no bug to read a
    traceback of: it was one 4 KB traceback a second per loop for as long as the outage
    lasted (issue 19). It is one line, the waits double (from ``worker_interval``, at
    least a second, up to ``OUTAGE_MAX_WAIT``), and one line says when it is back."""
    outage = 0.0  # the last wait while the database is away; 0 when it answers
    # Each tick runs in a copy of the loop's first context. Tortoise (1.1.9) marks a
    # transaction as the task's connection before its BEGIN: a BEGIN that fails while
    # PostgreSQL restarts leaves that mark behind, and every later transaction of a
    # long-lived loop was then nested in a dead one ("connection has been released back
    # to the pool", tests/test_faults.py). A request is its own task and never kept it.
    clean = contextvars.copy_context()
    while not stop.is_set():
        wait = settings.worker_interval
        try:
            await asyncio.create_task(tick(), context=clean.copy())
        except Exception as exc:
            if not db.unavailable(exc):
                log.exception("worker %s tick failed; retrying", name)
            else:
                outage = min(max(2 * outage, settings.worker_interval, 1.0), OUTAGE_MAX_WAIT)
                wait = outage
                log.warning("worker %s: the database is unavailable (%s); trying again in "
                            "%g s", name, _names(exc), outage)
        else:
            if outage:
                log.info("worker %s: the database answers again", name)
                outage = 0.0
        await _pause(stop, wait)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def _names(error: BaseException) -> str:
    """The error and what it was raised from, by class name: a message may quote values."""
    chain: list[str] = []
    cause: BaseException | None = error
    while cause is not None and len(chain) < 4:
        chain.append(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    return " <- ".join(chain)


async def _deliver(settings: Settings, backends: Backends, stop: asyncio.Event,
                   contention: pacing.Contention) -> None:
    """Codes and status links first, all of them, whatever the load: the applicant is
    looking at the page that waits for one; and again before every batch of the rest, so
    a backlog of bulk messages never stands in front of a new code. The rest is paced
    (``pacing.give_way``)."""
    while not stop.is_set():
        while not stop.is_set() and await deliver_due(settings, backends, stop=stop,
                                                      urgent_only=True) > 0:
            pass
        if stop.is_set() or await deliver_due(settings, backends, stop=stop) == 0:
            return
        if await pacing.give_way(settings, contention):
            return
