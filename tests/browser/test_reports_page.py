"""The reports page in Chromium (issue 20): its charts' axes read right as drawn, and
axe-core finds no serious or critical violation with figures and with none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from support.data.models import Status
from support.reads import reports
from support.reads.reports.rollup import start_of
from tests.browser.test_journeys import sign_in
from tests.factories import make_application

pytestmark = pytest.mark.browser


async def test_the_charts_read_right_in_the_browser(new_context, live, recorder):
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    noon = start_of(yesterday) + timedelta(hours=12)
    for minutes, status in ((12, Status.APPROVED), (35, Status.REJECTED)):
        await make_application(status=status, decided_at=noon, due_at=noon,
                               verified_at=noon - timedelta(minutes=minutes),
                               decision_code="not_owner" if status is Status.REJECTED else None)
    page = await sign_in(new_context, live, recorder, "Lea", role="lead")
    await page.goto(f"{live}/review/reports")
    await recorder.step(page, "reports-empty-before-the-worker")
    await reports.refresh()
    await page.reload()
    await recorder.step(page, "reports")
    ticks = await page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('svg.chart')].map(svg => [svg.id,
            [...svg.querySelectorAll('text.tick')].map(t => t.textContent)]))""")
    assert ticks["chart-decisions"] == ["0", "1", "2"]
    assert ticks["chart-time-to-decision"] == ["0 min", "10 min", "20 min", "30 min", "40 min"]
    assert ticks["chart-approved-by-kind"] == ["0 %", "20 %", "40 %", "60 %", "80 %", "100 %"]
    for chart_id, labels in ticks.items():
        assert len(set(labels)) == len(labels) >= 2, (chart_id, labels)
    # Drawn, each tick label sits beside its own gridline: none overlaps the next.
    boxes = await page.evaluate("""() => [...document.querySelectorAll(
        '#chart-decisions text.tick')].map(t => t.getBoundingClientRect().top)""")
    assert all(a > b for a, b in zip(boxes, boxes[1:], strict=False))
