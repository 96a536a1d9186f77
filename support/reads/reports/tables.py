"""Each figure of the report as a table: one definition for the page and for its CSV.

The page shows the values formatted for reading ("87.5 %", "18 h 20 min"); the CSV
carries the same rows as plain numbers a spreadsheet can sum (shares in percent, times in
hours), with the unit in the header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from support.reads.reports.figures import Report, Share, format_duration

SHOWN = 15  # bars per share chart; the table beside it lists every row

# The page's sections: a heading, what the figures count, and the tables (each with its
# chart and its CSV link) in the order shown.
SECTIONS: list[tuple[str, str, tuple[str, ...]]] = [
    ("Backlog", "Applications confirmed and not yet decided, withdrawn or expired (queued, "
     "in review or waiting for the applicant), at the end of each UTC day; today's is the "
     "latest count.", ("backlog",)),
    ("Decisions", "Approvals and refusals per UTC day.", ("decisions",)),
    ("Time to decision", "From the applicant's confirmation to the decision, for the "
     "decisions of the last 30 days. Read from a histogram: exact for small numbers, "
     "otherwise within about 2 %.", ("time-to-decision",)),
    ("Share approved", "Of the decisions of the last 30 days, the share that approved; the "
     "charts show the 15 with the most decisions, the tables every one.",
     ("approved-by-kind", "approved-by-country", "approved-by-model")),
    ("Overdue", "Of the open applications, those whose due date had passed, at the end of "
     "each UTC day; today's is the latest count.", ("overdue",)),
    ("Failed deliveries", "Messages given up on after every retry (dead), counted now. "
     "The delivery log has each one and can retry it.", ("deliveries",)),
]
KEYS = frozenset(key for _, _, keys in SECTIONS for key in keys)


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "int"  # text | int | date | percent | duration

    @property
    def csv_header(self) -> str:
        unit = {"percent": " (%)", "duration": " (hours)"}.get(self.kind, "")
        return self.header + unit


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[list[Any]]

    def display(self) -> list[list[str]]:
        """The rows as the page shows them: a table by day starts with the latest (its box
        scrolls, and today is what a lead looks for); the CSV keeps the days in order."""
        rows = self.rows[::-1] if self.columns[0].kind == "date" else self.rows
        return [[_display(value, column.kind) for value, column in zip(row, self.columns,
                                                                         strict=True)]
                for row in rows]

    def csv_header(self) -> list[str]:
        return [column.csv_header for column in self.columns]

    def csv_rows(self) -> list[list[Any]]:
        return [[_plain(value, column.kind) for value, column in zip(row, self.columns,
                                                                       strict=True)]
                for row in self.rows]


def _display(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "int":
        return f"{value:,}"
    if kind == "date":
        return f"{value:%a %d %b}"
    if kind == "percent":
        return f"{value * 100:.1f} %"
    if kind == "duration":
        return format_duration(value)
    return str(value)


def _plain(value: Any, kind: str) -> Any:
    if value is None:
        return ""
    if kind == "date":
        return value.isoformat()
    if kind == "percent":
        return round(value * 100, 1)
    if kind == "duration":
        return round(value / 3600, 2)
    return value


def _share_table(key: str, title: str, what: str, shares: list[Share]) -> Table:
    return Table(key, title, [Column(what, "text"), Column("Approved"), Column("Refused"),
                              Column("Decisions"), Column("Approved share", "percent")],
                 [[s.label, s.approved, s.rejected, s.decisions, s.approved_share]
                  for s in shares])


def _by_day(key: str, title: str, report: Report, counts: dict[date, dict[str, int]]) -> Table:
    """A count per kind at the end of each day, with the day's total."""
    kinds = report.kinds
    return Table(key, title,
                 [Column("Day", "date"), *(Column(report.kind_label(k)) for k in kinds),
                  Column("Total")],
                 [[day, *(counts[day].get(kind, 0) for kind in kinds),
                   sum(counts[day].get(kind, 0) for kind in kinds)] for day in report.days])


def build(report: Report) -> dict[str, Table]:
    """Every table of the page, by the key its CSV link uses."""
    tables = [
        _by_day("backlog", "Open applications at the end of each day", report, report.backlog),
        Table("decisions", "Decisions per day",
              [Column("Day", "date"), Column("Approved"), Column("Refused"), Column("Total")],
              [[day, report.approved[day], report.rejected[day],
                report.approved[day] + report.rejected[day]] for day in report.days]),
        Table("time-to-decision", "Time from confirmation to decision",
              [Column("Kind", "text"), Column("Decisions"), Column("Median", "duration"),
               Column("90th percentile", "duration")],
              [[t.label, t.decisions, t.median, t.p90] for t in report.timings]),
        _share_table("approved-by-kind", "Share approved by kind", "Kind",
                     report.shares["kind"]),
        _share_table("approved-by-country", "Share approved by country", "Country",
                     report.shares["country"]),
        _share_table("approved-by-model", "Share approved by model", "Model",
                     report.shares["model"]),
        _by_day("overdue", "Open applications past their due date at the end of each day",
                report, report.overdue),
        Table("deliveries", "Messages that could not be delivered (dead), now",
              [Column("Channel", "text"), Column("Dead")],
              [[channel.upper() if channel == "sms" else channel.capitalize(), count]
               for channel, count in report.dead.items()]),
    ]
    return {table.key: table for table in tables}
