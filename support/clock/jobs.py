"""The clock's jobs, run by the worker once a minute (leftover files once an hour, and at
its start): nothing waits forever.

Each job is a workflow action or a read-side refresh that claims its own rows; this
module only says which run, in which order, and that one failing does not stop the rest.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from support.config import Settings
from support.documents import filing, sweep
from support.reads import reports
from support.workflow import erasure, housekeeping, presence, purging

log = logging.getLogger("support.workflow")

LEFTOVERS_EVERY = 3600.0  # seconds between sweeps of leftover files (``documents.sweep``)


class Leftovers:
    """The sweep of files no row will claim, at the first run of the jobs in a process
    (its start: what a killed process left goes then) and every hour after.

    The last run is remembered in memory, per data dir, like the daily purge: N workers
    sweep N times an hour, which is harmless (a file goes once, whoever gets there first).
    A failed sweep (the database away) is not remembered, so the next minute tries again.
    """

    def __init__(self, every: float = LEFTOVERS_EVERY) -> None:
        self.every = every
        self.last_run: dict[Path, float] = {}

    async def run(self, settings: Settings) -> sweep.Swept | None:
        now = time.monotonic()
        last = self.last_run.get(settings.data_dir)
        if last is not None and now - last < self.every:
            return None
        swept = await sweep.sweep_leftovers(settings)
        self.last_run[settings.data_dir] = now
        return swept


LEFTOVERS = Leftovers()


async def run_all(settings: Settings) -> None:
    await housekeeping.expire_unverified(settings)
    await housekeeping.expire_unanswered()
    await housekeeping.release_stale_claims()
    await erasure.carry_out_requested(settings)
    try:  # on its own: a reminder not sent this minute is sent the next (two days ahead)
        await housekeeping.remind_unused_permissions(settings)
    except Exception:
        log.exception("reminding of unused permissions failed; the next run retries")
    await filing.sweep_spool(settings)
    try:  # on its own: a file left on disk harms nobody for another minute
        await LEFTOVERS.run(settings)
    except Exception:
        log.exception("sweeping leftover files failed; the next run retries")
    try:  # a failed purge is retried within the hour (DailyPurge); the rest goes on
        await purging.run_daily(settings)
    except Exception:
        log.exception("retention purge failed")
    try:  # who had a page open a day ago: a small table, kept small; nothing waits on it
        await presence.prune()
    except Exception:
        log.exception("pruning who had applications open failed; the next run retries")
    # Last and on its own: the reports page's daily figures (reads/reports/rollup.py)
    # never hold up the clock's actions, and a failure is retried at the next run.
    try:
        await reports.refresh()
    except Exception:
        log.exception("report rollups failed; the next run retries")
