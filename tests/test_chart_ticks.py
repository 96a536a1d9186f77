"""The reports' axes read right (issue 20): every chart's tick labels, read out of the SVG
of the real ``/review/reports`` page, are distinct, increasing, round values in a unit that
fits the data (whole counts; minutes, hours or days), for a quiet month, a busy one and an
empty one. It once read "0, 0, 1, 2, 2" for two decisions (halves rounded) and "0 h" six
times for decisions taken within the hour."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest

from support.data.models import Status
from support.reads import charts, reports
from support.reads.reports.rollup import start_of
from tests.factories import make_application
from tests.test_reports import svgs

SVG = "{http://www.w3.org/2000/svg}"
COUNT_CHARTS = ("chart-backlog", "chart-overdue", "chart-decisions", "chart-deliveries")
SHARE_CHARTS = ("chart-approved-by-kind", "chart-approved-by-country", "chart-approved-by-model")
MIN, HOUR, DAY = 60, 3600, 86400
# The round steps each unit may take (counts: 1, 2 or 5 times a power of ten).
ROUND_STEPS = {
    "": {m * 10**n for m in (1, 2, 5) for n in range(7)},
    "%": {20},
    "min": {1, 2, 5, 10, 15, 30},
    "h": {1, 2, 3, 6, 12, 24},
    "d": {m * 10**n for m in (1, 2, 5) for n in range(4)},
}



def tick_labels(chart: ET.Element) -> list[str]:
    return [t.text or "" for t in chart.iter(f"{SVG}text") if t.attrib.get("class") == "tick"]


def texts(chart: ET.Element) -> list[str]:
    return [t.text or "" for t in chart.iter(f"{SVG}text")]


def read_axis(labels: list[str]) -> tuple[str, list[int]]:
    """The labels' one unit and their values, checked to be distinct, increasing from 0 in
    one round step: the properties a reader relies on."""
    assert len(labels) >= 2, labels
    assert len(set(labels)) == len(labels), f"a repeated tick: {labels}"
    parsed = [re.fullmatch(r"([\d,]+) ?(min|h|d|%)?", label) for label in labels]
    assert all(parsed), f"not a whole number with a unit: {labels}"
    units = {m.group(2) or "" for m in parsed if m}
    assert len(units) == 1, f"mixed units: {labels}"
    unit = units.pop()
    values = [int(m.group(1).replace(",", "")) for m in parsed if m]
    assert values[0] == 0
    steps = {b - a for a, b in zip(values, values[1:], strict=False)}
    assert len(steps) == 1, f"uneven steps: {labels}"
    step = steps.pop()
    assert step in ROUND_STEPS[unit], f"step {step} {unit} is not round: {labels}"
    assert len(labels) <= 8, f"crowded: {labels}"
    return unit, values


def at(day: date, hour: float) -> datetime:
    return start_of(day) + timedelta(hours=hour)


async def decided(day: date, *, after: float, approved: bool = True, **fields: object) -> None:
    """An application decided at noon of ``day``, ``after`` seconds after it was confirmed."""
    when = at(day, 12)
    await make_application(status=Status.APPROVED if approved else Status.REJECTED,
                           verified_at=when - timedelta(seconds=after), decided_at=when,
                           due_at=when, **fields)


async def the_page(desk: object) -> tuple[str, dict[str, ET.Element]]:
    await reports.refresh(datetime.now(UTC))
    lead = await desk.reviewer(role="lead")  # type: ignore[attr-defined]
    page = await lead.get("/review/reports")
    assert page.status_code == 200
    return page.text, svgs(page.text)


def check_every_axis(found: dict[str, ET.Element]) -> dict[str, tuple[str, list[int]]]:
    """Every chart's axis read and checked; a share chart with nothing to share is the
    plain "No data yet." image instead, without an axis."""
    assert set(found) == {*COUNT_CHARTS, *SHARE_CHARTS, "chart-time-to-decision"}
    axes = {}
    for chart_id, chart in found.items():
        if chart_id in SHARE_CHARTS and not tick_labels(chart):
            assert "No data yet." in texts(chart)
            continue
        axes[chart_id] = read_axis(tick_labels(chart))
    for chart_id in COUNT_CHARTS:
        assert axes[chart_id][0] == "", (chart_id, axes[chart_id])
    for chart_id in SHARE_CHARTS:
        if chart_id in axes:
            assert axes[chart_id] == ("%", [0, 20, 40, 60, 80, 100])
    return axes


async def test_a_quiet_month_counts_in_ones_and_times_in_minutes(desk):
    """Two decisions on one day, each within the hour: 0, 1, 2 decisions; minutes."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    await decided(yesterday, after=10 * MIN)
    await decided(yesterday, after=40 * MIN, approved=False, decision_code="not_owner")
    _, found = await the_page(desk)
    axes = check_every_axis(found)
    assert tick_labels(found["chart-decisions"]) == ["0", "1", "2"]
    unit, values = axes["chart-time-to-decision"]
    assert unit == "min" and values[-1] >= 37 and values[-1] <= 60, values
    # Each bar's own value is written precisely beside it, in words a reader uses.
    assert "40 min" in texts(found["chart-time-to-decision"])
    assert "No decisions in these 30 days." not in texts(found["chart-decisions"])


async def test_a_day_of_hours_is_counted_in_hours(desk):
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    for hours in (3, 9, 20, 22):
        await decided(yesterday, after=hours * HOUR)
    _, found = await the_page(desk)
    axes = check_every_axis(found)
    unit, values = axes["chart-time-to-decision"]
    assert unit == "h" and 21 <= values[-1] <= 24, values
    assert tick_labels(found["chart-decisions"]) == ["0", "1", "2", "3", "4"]


async def test_a_busy_month_steps_in_round_tens_and_days(desk):
    """Sixty-three decisions on one day, taken over one to nine days: the counts step by a
    round ten or twenty, the times in whole days."""
    today = datetime.now(UTC).date()
    busiest = today - timedelta(days=10)
    for n in range(63):
        await decided(busiest, after=(1 + n % 9) * DAY, approved=n % 3 != 0,
                      decision_code=None if n % 3 else "not_owner",
                      kind=("unlock", "recovery")[n % 2], country=("IN", "RU", "BR")[n % 3])
    for n in range(7):  # a few open ones for the backlog
        await make_application(status=Status.QUEUED, verified_at=at(today - timedelta(days=3), n))
    _, found = await the_page(desk)
    axes = check_every_axis(found)
    unit, values = axes["chart-decisions"]
    assert values[-1] >= 63 and values[1] in {10, 20}, values
    unit, values = axes["chart-time-to-decision"]
    assert unit == "d" and 9 <= values[-1] <= 10, values
    # 32 unlock applications were waiting the day before the busy one.
    assert tick_labels(found["chart-backlog"]) == ["0", "10", "20", "30", "40"]
    assert tick_labels(found["chart-overdue"]) == ["0", "1"]


async def test_an_empty_month_has_a_plain_axis_and_says_so(desk):
    page, found = await the_page(desk)
    axes = check_every_axis(found)
    for chart_id in COUNT_CHARTS:
        assert tick_labels(found[chart_id]) == ["0", "1"], chart_id
    assert tick_labels(found["chart-time-to-decision"]) == ["0 h", "1 h"]
    assert axes["chart-time-to-decision"][0] == "h"
    assert "No decisions in these 30 days." in texts(found["chart-decisions"])
    assert "No open applications in these 30 days." in texts(found["chart-backlog"])
    assert "no data" in texts(found["chart-time-to-decision"])
    assert "No decisions in the last 30 days." in page  # the tables say it too


@pytest.mark.parametrize("top", [0, 0.4, 1, 2, 3, 5, 7, 9, 10, 11, 49, 99, 100, 101, 999,
                                 1234, 98765, 10**6])
def test_count_axes_are_whole_and_round(top):
    axis = charts.count_axis(top)
    unit, values = read_axis(axis.labels())
    assert unit == "" and values[-1] >= top and values[-2] < max(top, 1)
    assert [float(v) for v in values] == list(axis.ticks)


@pytest.mark.parametrize(("seconds", "unit"), [
    (0, "h"), (20, "min"), (59, "min"), (60, "min"), (11 * MIN, "min"), (45 * MIN, "min"),
    (90 * MIN, "min"), (2 * HOUR, "min"), (2 * HOUR + 1, "h"), (5.5 * HOUR, "h"),
    (24 * HOUR, "h"), (30 * HOUR, "h"), (3 * DAY, "h"), (3 * DAY + 1, "d"), (6 * DAY, "d"),
    (40 * DAY, "d"), (400 * DAY, "d"),
])
def test_duration_axes_pick_the_unit_the_range_needs(seconds, unit):
    axis = charts.duration_axis(seconds)
    found, values = read_axis(axis.labels())
    assert found == unit
    assert axis.ticks[-1] >= seconds and (seconds == 0 or axis.ticks[-2] < seconds)
    assert len(values) >= 2


def test_the_examples_of_the_issue():
    assert charts.count_axis(2).labels() == ["0", "1", "2"]
    assert charts.count_axis(7).labels() == ["0", "2", "4", "6", "8"]
    assert charts.duration_axis(45 * MIN).labels()[-1] in {"45 min", "50 min", "60 min"}
    assert charts.duration_axis(24 * HOUR).labels() == ["0 h", "6 h", "12 h", "18 h", "24 h"]
    assert charts.duration_axis(6 * DAY).labels() == ["0 d", "1 d", "2 d", "3 d", "4 d", "5 d",
                                                      "6 d"]
