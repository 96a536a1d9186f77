"""The worker's loop: messages first, then the minute's jobs, then documents to file.

It runs inside the web process by default (``SUPPORT_INPROCESS_WORKER``) or as
``support worker`` processes, any number of them: every step claims its rows, so two
loops never do the same thing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from support.clock import jobs, pacing
from support.config import Settings
from support.documents.filing import sanitise_pending
from support.notify.delivery import Backends, deliver_due
from support.platform import metrics

log = logging.getLogger("support.worker")

JOBS_EVERY = 60.0  # seconds between runs of the clock's jobs (``jobs.run_all``)


async def run(settings: Settings, backends: Backends, stop: asyncio.Event) -> None:
    """Deliver, run the periodic jobs once a minute, file documents, then sleep until the
    next tick. In a burst at the front door it sends one batch of bulk messages a tick
    (``pacing.give_way``); codes and status links are never held back (``urgent``)."""
    last_jobs = 0.0
    loop = asyncio.get_running_loop()
    contention = pacing.Contention()
    while not stop.is_set():
        try:
            await _deliver(settings, backends, stop, contention)
            if loop.time() - last_jobs > JOBS_EVERY:
                await jobs.run_all(settings)
                last_jobs = loop.time()
            # before any reviewer sees them
            await sanitise_pending(settings, stop=stop,
                                   may_wait=lambda since: pacing.may_wait(
                                       settings, contention, since))
        except Exception:
            log.exception("worker tick failed; retrying")
        else:
            metrics.worker_ticked()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.worker_interval)


async def _deliver(settings: Settings, backends: Backends, stop: asyncio.Event,
                   contention: pacing.Contention) -> None:
    """Codes and status links first, all of them, whatever the load: the applicant is
    looking at the page that waits for one. Then the rest, paced."""
    while not stop.is_set() and await deliver_due(settings, backends, stop=stop,
                                                  urgent_only=True) > 0:
        pass
    while not stop.is_set() and await deliver_due(settings, backends, stop=stop) > 0:
        if await pacing.give_way(settings, contention):
            break
