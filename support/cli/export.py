"""``support export``: the queue as CSV from the command line, for exports too large to
wait for in a browser. The same rows, scope and columns as the page's "Export CSV"
(``support/reads/exports.py``): it runs *as* a reviewer, so nobody exports more than their queues
show them, and contact details still need a lead. Progress goes to standard error, so the
CSV on standard output stays clean for a pipe."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from support.accounts import roles
from support.cli.database import with_db
from support.config import Settings
from support.data.models import Reviewer
from support.reads.exports import BOM, QueueExport, encode
from support.reads.queue import TABS, Filters
from support.rules.flags import FLAG_WORDS
from support.rules.kinds import KINDS

audit = logging.getLogger("support.audit")


def add_parser(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    export = command(
        commands, "export", "write a filtered queue as CSV (streamed, any size)",
        "Write one tab of the review queue as CSV, with the filters of the queue page, as "
        "the reviewer given by --as sees it (their kinds and countries). Rows are read in "
        "batches along the queue's index, so memory stays flat at a million rows. Text "
        "that a spreadsheet would run as a formula is quoted. Progress (rows so far) goes "
        "to standard error; each export is written to the audit log without its filters' "
        "values. The header and the cells say kinds, states, refusal reasons and risk "
        "flags in words, as the desk's pages do (the options below take their codes).",
        ["support export --as lead@example.com --tab decided -o decided.csv",
         "support export --as asha@example.com --kind unlock --country IN > unlock-in.csv",
         "support export --as lead@example.com --tab queued --contacts -o with-contacts.csv"],
    )
    export.add_argument("--as", dest="reviewer", required=True, metavar="EMAIL",
                        help="the reviewer whose queues are exported (their scope applies)")
    export.add_argument("--tab", choices=TABS, default="queued",
                        help="which tab of the queue (default: queued)")
    export.add_argument("--kind", default="", help=f"only this kind ({', '.join(KINDS)})")
    export.add_argument("--country", default="",
                        help="only this country (two-letter ISO code, e.g. IN)")
    export.add_argument("--model", default="", help="only this phone model, as stored")
    # A known flag only: a mistyped one matched no row, an empty file that looked like
    # "nothing is flagged".
    export.add_argument("--flag", default="", choices=["", *FLAG_WORDS], metavar="FLAG",
                        help="only applications with this risk flag: "
                        + "; ".join(f"{code} ({words})" for code, words in FLAG_WORDS.items()))
    export.add_argument("--contacts", action="store_true",
                        help="add account ID, phone, email and IMEI (leads and admins only)")
    export.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write here instead of standard output (replaced if it exists)")
    export.add_argument("--batch-size", type=int, default=1000, metavar="N",
                        help="rows read per statement (default 1000)")
    export.set_defaults(func=cmd_export)


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    return asyncio.run(with_db(settings, lambda: _export(args)))


async def _export(args: argparse.Namespace) -> int:
    reviewer = await Reviewer.get_or_none(email=args.reviewer.strip().lower(), active=True)
    if reviewer is None:
        print(f"error: no active reviewer with the email {args.reviewer}", file=sys.stderr)
        return 2
    if args.contacts and not roles.has_role(reviewer, "lead"):
        print("error: --contacts needs a lead or an admin", file=sys.stderr)
        return 2
    filters = Filters.from_query({"tab": args.tab, "kind": args.kind,
                                  "country": args.country, "model": args.model,
                                  "flag": args.flag})
    export = QueueExport(reviewer, filters, args.contacts)
    target: IO[bytes] = args.output.open("wb") if args.output else sys.stdout.buffer
    rows, complete, started = 0, False, time.monotonic()
    try:
        target.write(BOM + encode([export.header()]))
        async for batch in export.batches(args.batch_size):
            target.write(encode(batch))
            rows += len(batch)
            print(f"\r{rows:,} rows", end="", file=sys.stderr, flush=True)
        complete = True
    finally:
        if args.output:
            target.close()
        else:
            target.flush()
        audit.info("export queue (tab=%s) by reviewer:%s (%s) from the command line, rows: %d,"
                   " %s", filters.tab, reviewer.id, reviewer.role, rows,
                   "complete" if complete else "interrupted")
    print(f"\r{rows:,} rows in {time.monotonic() - started:.1f} s"
          + (f", written to {args.output}" if args.output else ""), file=sys.stderr)
    return 0
