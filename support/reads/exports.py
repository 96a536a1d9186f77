"""CSV exports: safe cells, and the queue read in keyset batches.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some,
a tab or carriage return) as a formula, and applicants write the fields we export: such a
text cell gets a leading ``'`` so it stays text. Numbers are written as numbers.

The queue export reads the tab in the page's own order, ``BATCH`` rows at a time, each
batch found from where the last one ended (the page's keyset, ``queue.py``), never by
OFFSET: a million rows cost a thousand short reads and memory holds one batch. The same
filters and the same scope as the queue page apply, so a reviewer exports exactly what
their queue shows them. On SQLite the batches are read in a thread, on a read-only
connection (``long_statements``): inline, the whole export held the event loop (B6).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Subquery

from support.data.models import Application, Reviewer, RiskFlag
from support.data.sqlite_client import long_statements
from support.reads import queue
from support.reads.queue import DECIDED_ORDER, QUEUE_ORDER, Filters
from support.reads.wording import flag_word, kind_word, reason_word, state_word

BATCH = 1000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Excel reads a CSV as the machine's legacy code page unless it starts with a BOM; every
# other tool we know of (Python's csv with utf-8-sig, LibreOffice, pandas) skips it.
BOM = "\ufeff".encode()


def neutralise(value: Any) -> Any:
    """A cell as a spreadsheet should read it: text that could start a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def encode(rows: Iterable[Sequence[Any]]) -> bytes:
    """RFC 4180 lines (``csv`` quoting, CRLF) in UTF-8, every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue().encode("utf-8")


def incomplete(rows: int) -> bytes:
    """The last line of an export that failed part way: whoever opens the file sees that
    it is not whole, even where the aborted download itself went unnoticed (a client or
    proxy that reads to the end of the connection)."""
    return encode([[f"EXPORT INCOMPLETE: an error stopped it after {rows} rows. "
                    "Export again; do not use this file."]])


def when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class QueueExport:
    """Which rows and columns: the queue's filters, the reviewer's scope, and contact
    details only when a lead or admin asked for them."""

    reviewer: Reviewer
    filters: Filters
    contacts: bool = False

    # Words in the header and in the cells (kinds, states, reasons, flags as the pages say
    # them: reads/wording.py); times as ISO-like text a spreadsheet sorts, in UTC.
    COLUMNS = ("Reference", "Kind", "State", "Country", "Model", "Firmware", "Priority",
               "Submitted (UTC)", "Confirmed (UTC)", "Due (UTC)", "Decided (UTC)",
               "Refusal reason", "Assignee", "Risk flags")
    CONTACT_COLUMNS = ("Account ID", "Phone", "Email", "IMEI")
    FIELDS = ("id", "priority", "due_at", "decided_at", "reference", "kind", "status",
              "country", "model", "firmware", "created_at", "verified_at", "decision_code",
              "assignee__name")
    CONTACT_FIELDS = ("account_id", "phone", "email", "imei")

    def header(self) -> list[str]:
        return [*self.COLUMNS, *(self.CONTACT_COLUMNS if self.contacts else ())]

    async def batches(self, size: int | None = None) -> AsyncGenerator[list[list[Any]], None]:
        """Rows in the tab's order, ``size`` at a time: each batch's ids come from the
        index the page uses, then only those rows and their flags are read (two
        statements a batch, whatever the batch holds)."""
        size = size or BATCH
        tab = self.filters.tab
        base = queue._base(self.reviewer, self.filters).filter(
            queue._tab_condition(tab, self.reviewer))
        ordering = DECIDED_ORDER if tab == "decided" else QUEUE_ORDER
        fields = (*self.FIELDS, *(self.CONTACT_FIELDS if self.contacts else ()))
        cursor: list[Any] | None = None
        while True:
            query = base if cursor is None else base.filter(queue._after(tab, cursor))
            ids = query.order_by(*ordering).limit(size).values("id")
            with long_statements():  # not across the yield: the consumer's own are short
                rows = await Application.filter(id__in=Subquery(ids)).order_by(
                    *ordering).values_list(*fields)
                if not rows:
                    return
                flag_rows = await RiskFlag.filter(
                    application_id__in=[row[0] for row in rows]
                ).order_by("code").values_list("application_id", "code")
            flags: dict[int, list[str]] = {}
            for application_id, code in flag_rows:
                flags.setdefault(int(application_id), []).append(str(code))
            yield [self._cells(row, flags.get(int(row[0]), [])) for row in rows]
            if len(rows) < size:
                return
            last = rows[-1]
            cursor = [0, last[3], last[0]] if tab == "decided" else [last[1], last[2], last[0]]

    def _cells(self, row: tuple[Any, ...], flags: list[str]) -> list[Any]:
        (_, priority, due_at, decided_at, reference, kind, status, country, model, firmware,
         created_at, verified_at, decision_code, assignee, *contact) = row
        cells = [reference, kind_word(kind), state_word(status), country, model, firmware,
                 priority, when(created_at), when(verified_at), when(due_at), when(decided_at),
                 reason_word(decision_code), assignee or "",
                 "; ".join(flag_word(flag) for flag in flags)]
        cells += [value or "" for value in contact]
        return cells
