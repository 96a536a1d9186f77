"""The clock's jobs, run by the worker once a minute: nothing waits forever.

Each job is a workflow action or a read-side refresh that claims its own rows; this
module only says which run, in which order, and that one failing does not stop the rest.
"""

from __future__ import annotations

import logging

from support.config import Settings
from support.documents import filing
from support.reads import reports
from support.workflow import erasure, housekeeping, purging

log = logging.getLogger("support.workflow")


async def run_all(settings: Settings) -> None:
    await housekeeping.expire_unverified(settings)
    await housekeeping.expire_unanswered()
    await housekeeping.release_stale_claims()
    await erasure.carry_out_requested(settings)
    await filing.sweep_spool(settings)
    try:  # a failed purge is retried within the hour (DailyPurge); the rest goes on
        await purging.run_daily(settings)
    except Exception:
        log.exception("retention purge failed")
    # Last and on its own: the reports page's daily figures (reads/reports/rollup.py)
    # never hold up the clock's actions, and a failure is retried at the next run.
    try:
        await reports.refresh()
    except Exception:
        log.exception("report rollups failed; the next run retries")
