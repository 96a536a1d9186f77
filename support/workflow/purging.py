"""The retention policy carried out: every step of ``retention``, and erasures asked for,
in one run (``support purge``, and the clock once a day)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from support.config import Settings
from support.data.sqlite_client import long_statements
from support.workflow import erasure, retention
from support.workflow.retention import PurgeReport

log = logging.getLogger("support.retention")


async def purge(
    settings: Settings, *, now: datetime | None = None, dry_run: bool = False,
    size: int = retention.BATCH, progress: retention.Progress | None = None,
) -> PurgeReport:
    """Every step of the policy, in the order that does the least work: erasures asked
    for, documents, then personal data (whose documents are mostly gone by then), then
    the messages and links of what was redacted. Safe to run any number of times.

    On SQLite every statement runs in a thread (``long_statements``): inline, a run held
    the event loop from start to end, every request of the process waiting (B6: 2.3 s for
    5,000 applications), and a batch's writes are hundreds of rows."""
    moment = now or datetime.now(UTC)
    report = PurgeReport()
    options: dict[str, Any] = {"dry_run": dry_run, "size": size, "progress": progress}
    with long_statements():
        report.add(await erasure.carry_out_requested(settings, moment, **options))
        report.add(await retention.purge_documents(settings, moment, **options))
        report.add(await retention.redact_expired(settings, moment, **options))
        report.add(await retention.redact_notifications(moment, **options))
        report.add(await retention.delete_links(moment, **options))
        report.add(await retention.redact_unplaced_mail(settings, moment, **options))
    log.info("purge%s: %s", " (dry run, nothing changed)" if dry_run else "", report.summary())
    return report


class DailyPurge:
    """Runs the purge at most once a day from the worker's one-minute housekeeping.

    The last run is remembered in memory: a restarted worker purges on its first tick,
    and N workers purge N times a day. Both are harmless, since a run re-checks every row
    under its lock and does nothing to what is already done, so no table is needed to
    agree on who runs it.
    """

    def __init__(self, every: timedelta = timedelta(days=1)) -> None:
        self.every = every
        self.last_run: datetime | None = None

    def due(self, now: datetime) -> bool:
        return self.last_run is None or now - self.last_run >= self.every

    async def run(self, settings: Settings, now: datetime | None = None) -> PurgeReport | None:
        moment = now or datetime.now(UTC)
        if not self.due(moment):
            return None
        self.last_run = moment
        try:
            return await purge(settings, now=moment)
        except Exception:
            # Try again in an hour rather than tomorrow, or every minute.
            self.last_run = moment - self.every + retention.RETRY_AFTER
            raise


DAILY = DailyPurge()


async def run_daily(settings: Settings, now: datetime | None = None) -> PurgeReport | None:
    """The worker's entry: the purge if a day has passed since this process last ran it."""
    return await DAILY.run(settings, now)
