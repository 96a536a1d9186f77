"""CSV downloads: the queue as filtered on the page, and each table of the reports page.

Streamed: the response starts with the header row and each batch of rows is sent as it is
read, so a million-row export holds one batch in memory (bench/b5_reports.py measures it).

Who may export what, and the audit trail:
- anyone on the desk may export their queue, with the page's filters and only the rows
  their queues show them (the scope is the page's), and without contact details;
- the applicants' contact details (account ID, phone, email, IMEI) are personal data in
  bulk, so only leads and admins get them, and only when they ask (``contacts=1``);
- report tables hold counts, no personal data; they are for leads and admins like the page;
- every export is written to the ``support.audit`` log when it ends: who, what, which
  filters (a search's text is left out: it may be a phone number or an email), with or
  without contacts, how many rows, and how it ended: ``complete``, ``interrupted`` (the
  browser went away) or ``failed`` (an error: the file then ends with a line saying it is
  incomplete, and the response is aborted). Not as ``Event`` rows: events are the
  timeline of one application, and an export touches thousands.

Parameters are checked before the first byte (issue 19): a filter the page would leave
out (an assignee that is no id, a NUL, an unknown tab) answers 400 instead of a file of
other rows, and the first batch is read before the response starts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from support.accounts import roles
from support.data.models import Reviewer
from support.reads import reports
from support.reads.exports import BOM, QueueExport, encode, incomplete
from support.reads.queue import Filters
from support.reads.reports import tables as report_tables
from support.web.auth import render_review, requires
from support.web.context import reviewer_of

audit = logging.getLogger("support.audit")



def _filename(stem: str) -> str:
    return f"{stem}-{datetime.now(UTC):%Y-%m-%d}.csv"


class Download(StreamingResponse):
    """A streamed CSV that closes its generator as soon as the response ends, finished or
    not: Starlette leaves an abandoned generator to the garbage collector, and the
    export's audit line (and its database reads) must not wait for that."""

    def __init__(self, rows: AsyncGenerator[bytes, None], filename: str) -> None:
        super().__init__(rows, media_type="text/csv; charset=utf-8", headers={
            "content-disposition": f'attachment; filename="{filename}"'})
        self.rows = rows

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.rows.aclose()


async def _csv(filename: str, header: list[str], batches: AsyncGenerator[list[list[Any]], None],
               reviewer: Reviewer, what: str) -> Response:
    """The CSV, its first batch read before the first byte is sent: an error there is an
    error page, not a 200 cut short. An error after it ends the file with a line saying it
    is incomplete and aborts the response (no last chunk: the browser reports a failed
    download), never a clean end that looks like the whole file."""

    def logged(rows: int, outcome: str) -> None:
        audit.info("export %s by reviewer:%s (%s), rows: %d, %s", what, reviewer.id,
                   reviewer.role, rows, outcome)

    try:
        first = await anext(batches, None)
    except Exception:
        await batches.aclose()
        logged(0, "failed")
        raise

    async def body() -> AsyncGenerator[bytes, None]:
        rows, outcome = 0, "interrupted"  # unless it ends or fails: the browser left
        try:
            yield BOM + encode([header])
            if first is not None:
                rows += len(first)
                yield encode(first)
                async for batch in batches:
                    rows += len(batch)
                    yield encode(batch)
            outcome = "complete"
        except Exception:
            outcome = "failed"
            yield incomplete(rows)
            raise
        finally:
            await batches.aclose()
            logged(rows, outcome)

    return Download(body(), filename)


def _described(filters: Filters, contacts: bool) -> str:
    """The filters for the audit log; a search says only that there was one."""
    parts = [f"tab={filters.tab}"]
    parts += [f"{name}={value}" for name, value in (
        ("kind", filters.kind), ("country", filters.country), ("model", filters.model),
        ("flag", filters.flag), ("assignee", filters.assignee)) if value]
    if filters.search:
        parts.append("search=yes")
    parts.append(f"contacts={'yes' if contacts else 'no'}")
    return "queue (" + ", ".join(parts) + ")"


@requires("reviewer")
async def queue_csv(request: Request) -> Response:
    reviewer = reviewer_of(request)
    filters, unusable = Filters.parse(dict(request.query_params))
    contacts = request.query_params.get("contacts") == "1"
    if contacts and not roles.has_role(reviewer, "lead"):
        return render_review(request, "review/forbidden.html", {
            "signed_out": False, "needed_role": "lead"}, 403)
    if unusable:  # the page would leave them out; a file must be what was asked for
        return render_review(request, "review/export_refused.html", {
            "unusable": unusable, "filters": filters}, 400)
    export = QueueExport(reviewer, filters, contacts)
    stem = f"queue-{filters.tab}" + ("-contacts" if contacts else "")
    return await _csv(_filename(stem), export.header(), export.batches(), reviewer,
                      _described(filters, contacts))


async def _one(rows: list[list[Any]]) -> AsyncGenerator[list[list[Any]], None]:
    yield rows


@requires("lead")
async def report_csv(request: Request) -> Response:
    """One table of the reports page, built from the same figures the page shows."""
    key = request.query_params.get("table", "")
    if key not in report_tables.KEYS:
        return render_review(request, "errors/404.html", {}, 404)
    table = report_tables.build(await reports.load())[key]
    return await _csv(_filename(f"report-{key}"), table.csv_header(), _one(table.csv_rows()),
                      reviewer_of(request), f"report table {key}")


def routes() -> list[Route]:
    return [
        Route("/review/queue.csv", queue_csv, methods=["GET"], name="review_queue_csv"),
        Route("/review/reports.csv", report_csv, methods=["GET"], name="review_reports_csv"),
    ]
