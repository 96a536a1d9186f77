"""The erasure log: one line for each application erased at its applicant's request,
written outside the database, so that restoring a backup does not bring them back.

A backup is the desk as it was; an applicant who asked to be forgotten after it was taken
would be back in a desk restored from it. Every restore therefore carries out again the
erasures in this log that the restored database does not show (``replay``): those in the
archive's own copy (erased while the backup ran) and, given ``--erasures``, the log of the
desk that was lost, if it survived or was kept elsewhere (``SUPPORT_ERASURE_LOG`` on
another disk). Policy's own purges need no log: the restored desk's daily purge does them
again by itself.

A line is the time and the application's reference: nothing that leads to the person
(the reference stays in the redacted row anyway, for statistics).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from tortoise.transactions import in_transaction

from support.config import Settings
from support.data.models import Application
from support.workflow.retention import BATCH, delete_files, redact

log = logging.getLogger("support.retention")
_LINE = re.compile(r"(\S+) ([A-Za-z0-9-]{1,16})")


def record(settings: Settings, references: Iterable[str], when: datetime) -> None:
    """Append these erasures, after their transaction committed. The erasure stands
    whatever happens here: a log that cannot be written is said in the log."""
    lines = "".join(f"{when.isoformat()} {reference}\n" for reference in references)
    if not lines:
        return
    path = settings.erasure_log
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, lines.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as error:
        log.error("the erasure log %s could not be written (%s): a restore from an older "
                  "backup would not erase these again", path, error.strerror or error)


def read(path: Path) -> list[str]:
    """The references in an erasure log, oldest first; lines that are not ours are
    skipped (a log cut short by a crash ends in half a line)."""
    found: list[str] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.endswith("\n"):  # written in part
                continue
            match = _LINE.fullmatch(line.strip())
            if match:
                found.append(match.group(2))
    return found


async def replay(settings: Settings, references: Iterable[str]) -> int:
    """Erase again each of these applications that is not erased in this database;
    return how many. The applicant was told when it was first done: not again."""
    wanted = sorted(set(references))
    if not wanted:
        return 0
    now = datetime.now(UTC)
    erased = 0
    for start in range(0, len(wanted), BATCH):
        async with in_transaction():
            rows = await Application.filter(reference__in=wanted[start:start + BATCH],
                                            redacted_at=None).select_for_update()
            keys = await redact(rows, now, requested=True, tell=False)
        await delete_files(settings, keys)
        erased += len(rows)
    if erased:
        log.info("erased again %s applications from the erasure log", erased)
    return erased
