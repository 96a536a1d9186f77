"""The report's charts: which figure goes in which kind of chart, and the sentence that
describes each one to someone who cannot see it."""

from __future__ import annotations

from datetime import date

from markupsafe import Markup

from support.reads import charts
from support.reads.charts import PALETTE, Series
from support.reads.reports.figures import Report, format_duration
from support.reads.reports.tables import SHOWN, Table

APPROVED_COLOUR = "#009E73"
REFUSED_COLOUR = "#D55E00"


def _day(value: object) -> str:
    return f"{value:%d %b}"


def _share_chart(key: str, table: Table, what: str) -> Markup:
    rows = table.rows[:SHOWN]
    shown = f"the {len(rows)} with the most decisions" if len(table.rows) > SHOWN else "each"
    best = max(rows, key=lambda row: row[4] or 0, default=None)
    summary = (f" Highest: {best[0]}, {best[4] * 100:.0f} % of {best[3]:,}."
               if best is not None and best[4] is not None else "")
    return charts.bar_chart(
        chart_id=f"chart-{key}", title=table.title,
        desc=f"Share of decisions that approved, over the last 30 days, for {shown} "
             f"{what}.{summary}",
        labels=[str(row[0]) for row in rows],
        series=[Series("Approved share", [row[4] for row in rows], APPROVED_COLOUR)],
        x_label="Approved, percent of decisions", fmt=charts.percent,
        axis=charts.share_axis,
    )


def _by_day_chart(key: str, table: Table, report: Report, counts: dict[date, dict[str, int]],
                  what: str) -> Markup:
    """A line per kind over the days, for a count taken at the end of each day."""
    today = report.days[-1]
    labels = [report.kind_label(kind) for kind in report.kinds]
    latest = ", ".join(f"{label} {counts[today].get(kind, 0):,}"
                       for kind, label in zip(report.kinds, labels, strict=True))
    return charts.line_chart(
        chart_id=f"chart-{key}", title=table.title,
        desc=f"One line per kind over the last 30 days. Latest: {latest}.",
        labels=[_day(day) for day in report.days], x_label="Day (UTC)", y_label=what,
        label_every=5, nothing=f"No {what.lower()} in these 30 days.",
        series=[Series(label, [counts[day].get(kind, 0) for day in report.days],
                       PALETTE[i % len(PALETTE)])
                for i, (kind, label) in enumerate(zip(report.kinds, labels, strict=True))],
    )


def build(report: Report, tables: dict[str, Table]) -> dict[str, Markup]:
    days = [_day(day) for day in report.days]
    decided = sum(report.approved.values()) + sum(report.rejected.values())
    timing = {t.key: t for t in report.timings}["all"]
    drawn = {
        "backlog": _by_day_chart("backlog", tables["backlog"], report, report.backlog,
                                 "Open applications"),
        "decisions": charts.column_chart(
            chart_id="chart-decisions", title=tables["decisions"].title,
            desc=f"Approvals and refusals stacked, one bar per day over the last 30 days: "
                 f"{decided:,} decisions in all.",
            labels=days, x_label="Day (UTC)", y_label="Decisions", stacked=True,
            label_every=5, nothing="No decisions in these 30 days.",
            series=[Series("Approved", [report.approved[d] for d in report.days],
                           APPROVED_COLOUR),
                    Series("Refused", [report.rejected[d] for d in report.days],
                           REFUSED_COLOUR)],
        ),
        "time-to-decision": charts.bar_chart(
            chart_id="chart-time-to-decision", title=tables["time-to-decision"].title,
            desc=f"Median and 90th percentile by kind, decisions of the last 30 days. All "
                 f"kinds: median {format_duration(timing.median)}, 90th percentile "
                 f"{format_duration(timing.p90)}.",
            labels=[t.label for t in report.timings], x_label="Time to decision",
            fmt=format_duration, axis=charts.duration_axis,
            series=[Series("Median", [t.median for t in report.timings], PALETTE[0]),
                    Series("90th percentile", [t.p90 for t in report.timings], PALETTE[1])],
        ),
        "approved-by-kind": _share_chart("approved-by-kind", tables["approved-by-kind"],
                                         "kind"),
        "approved-by-country": _share_chart("approved-by-country",
                                            tables["approved-by-country"], "countries"),
        "approved-by-model": _share_chart("approved-by-model", tables["approved-by-model"],
                                          "models"),
        "overdue": _by_day_chart("overdue", tables["overdue"], report, report.overdue,
                                 "Overdue applications"),
        "deliveries": charts.bar_chart(
            chart_id="chart-deliveries", title=tables["deliveries"].title,
            desc="Messages given up on after every retry, by channel: "
                 + ", ".join(f"{row[0]} {row[1]:,}" for row in tables["deliveries"].rows)
                 + ".",
            labels=[row[0] for row in tables["deliveries"].rows], x_label="Messages",
            series=[Series("Dead", [row[1] for row in tables["deliveries"].rows],
                           PALETTE[4])],
        ),
    }
    return drawn
