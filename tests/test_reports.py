"""The reports page: its figures for a known set of applications, its charts, its access,
and what it costs (issue 8)."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import re
import statistics
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from html.parser import HTMLParser
from typing import Any

import pytest
from tortoise import connections

from support.clock import jobs
from support.data.db import statements_sent
from support.data.models import (
    Application,
    DeliveryStatus,
    Notification,
    ReportDay,
    ReportDuration,
    Status,
)
from support.reads import reports
from support.reads.reports import histogram, rollup
from support.reads.reports.rollup import end_of, start_of
from support.web.security import CSP
from tests.conftest import DB_KIND
from tests.factories import make_application

SVG = "{http://www.w3.org/2000/svg}"
H = 3600


class Tables(HTMLParser):
    """The report tables of a page, by their ``data-table`` key, as rows of cell texts
    (the header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current: list[list[str]] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("data-table"):
            self.current = self.tables.setdefault(str(found["data-table"]), [])
        elif tag == "tr" and self.current is not None:
            self.current.append([])
        elif tag in {"td", "th"} and self.current is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self.current is not None and self.cell is not None:
            self.current[-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def page_tables(html: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


def svgs(html: str) -> dict[str, ET.Element]:
    """Every chart on the page, parsed as XML (so it must be well-formed), by its id."""
    found = {}
    for markup in re.findall(r"<svg\b.*?</svg>", html, flags=re.S):
        root = ET.fromstring(markup)
        found[root.attrib["id"]] = root
    return found


def at(day: date, hour: float) -> datetime:
    return start_of(day) + timedelta(hours=hour)


class Known:
    """A desk whose every figure was worked out by hand (see each application's comment)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.today = self.now.date()

    def day(self, offset: int) -> date:
        return self.today - timedelta(days=offset)

    async def make(self) -> None:
        d = self.day
        soon, past = self.now + timedelta(days=2), self.now - timedelta(hours=1)
        earlier_today = start_of(self.today) + (self.now - start_of(self.today)) / 2
        # Decided: unlock 72 h, 48 h (refused), 48 h; recovery 60 h, 6 h.
        await make_application(kind="unlock", country="IN", model="Redmi Note 10 Pro",
                               status=Status.APPROVED, verified_at=at(d(5), 10),
                               decided_at=at(d(2), 10), due_at=at(d(2), 10))
        await make_application(kind="unlock", country="IN", model="Redmi Note 10 Pro",
                               status=Status.REJECTED, verified_at=at(d(4), 12),
                               decided_at=at(d(2), 12), decision_code="not_owner",
                               due_at=at(d(2), 10))
        await make_application(kind="unlock", country="RU", model="Poco F5",
                               status=Status.APPROVED, verified_at=at(d(3), 12),
                               decided_at=at(d(1), 12), due_at=at(d(2), 10))
        await make_application(kind="recovery", country="RU", model="Poco F5",
                               imei="490154203237518", status=Status.APPROVED,
                               verified_at=at(d(3), 0.5), decided_at=at(d(1), 12.5),
                               due_at=at(d(2), 10))
        await make_application(kind="recovery", country="IN", model="Redmi Note 10 Pro",
                               status=Status.APPROVED, verified_at=at(d(1), 12),
                               decided_at=at(d(1), 18), due_at=at(d(2), 10))
        # Open: one unlock overdue since today, one unlock and one recovery not yet due.
        await make_application(kind="unlock", status=Status.QUEUED, verified_at=at(d(2), 12),
                               due_at=earlier_today)
        await make_application(kind="recovery", status=Status.NEEDS_INFO,
                               verified_at=at(d(6), 12), due_at=soon)
        await make_application(kind="unlock", status=Status.IN_REVIEW,
                               verified_at=at(d(1), 20), due_at=soon)
        # Closed without a decision (the move's time is kept in last_activity_at).
        await make_application(kind="unlock", status=Status.WITHDRAWN, verified_at=at(d(4), 12),
                               last_activity_at=at(d(2), 8), due_at=past)
        await make_application(kind="recovery", status=Status.EXPIRED, verified_at=at(d(3), 12),
                               last_activity_at=at(d(1), 8), due_at=past)
        # Never counted: decided before the window, never confirmed.
        await make_application(kind="unlock", status=Status.APPROVED, verified_at=at(d(45), 12),
                               decided_at=at(d(40), 12))
        await make_application(kind="unlock", status=Status.SUBMITTED, verified_at=None,
                               due_at=None)
        # Deliveries: two emails and one SMS dead, one sent.
        for n, (channel, status) in enumerate([("email", "dead"), ("email", "dead"),
                                               ("sms", "dead"), ("email", "sent")]):
            await Notification.create(channel=channel, recipient="x", template="received",
                                      next_attempt_at=self.now, status=status,
                                      idempotency_key=f"known-{n}")

    def backlog(self) -> dict[date, tuple[int, int, int]]:
        """(unlock, recovery, appeal) open at the end of each day, worked out by hand."""
        expected = {self.day(n): (0, 0, 0) for n in range(30)}
        expected.update({
            self.day(6): (0, 1, 0), self.day(5): (1, 1, 0), self.day(4): (3, 1, 0),
            self.day(3): (4, 3, 0), self.day(2): (2, 3, 0), self.day(1): (2, 1, 0),
            self.day(0): (2, 1, 0),
        })
        return expected

    def overdue(self) -> dict[date, tuple[int, int, int]]:
        """Open and past the due date at the end of each day: the unlock and the recovery
        decided yesterday were both due at 10:00 the day before; the queued unlock since
        earlier today."""
        expected = {self.day(n): (0, 0, 0) for n in range(30)}
        expected.update({self.day(2): (1, 1, 0), self.day(0): (1, 0, 0)})
        return expected


def day_label(day: date) -> str:
    return f"{day:%a %d %b}"


@pytest.fixture
async def known(app) -> Known:
    desk = Known()
    await desk.make()
    await reports.refresh(desk.now)
    return desk


async def test_the_page_shows_the_right_numbers(desk, known):
    lead = await desk.reviewer(role="lead")
    page = await lead.get("/review/reports")
    assert page.status_code == 200
    tables = page_tables(page.text)

    backlog = tables["backlog"]
    assert backlog[0] == ["Day", "Bootloader unlock permission", "Account recovery",
                          "Appeal against a refused unlock", "Total"]
    assert len(backlog) == 31  # header + 30 days, today first
    expected = known.backlog()
    for row in backlog[1:]:
        day = next(d for d in expected if day_label(d) == row[0])
        unlock, recovery, appeal = expected[day]
        assert row[1:] == [str(unlock), str(recovery), str(appeal),
                           str(unlock + recovery + appeal)], row
    assert [row[0] for row in backlog[1:]] == [day_label(known.day(n)) for n in range(30)]

    decisions = {row[0]: row[1:] for row in tables["decisions"][1:]}
    assert len(decisions) == 30
    assert decisions[day_label(known.day(2))] == ["1", "1", "2"]
    assert decisions[day_label(known.day(1))] == ["3", "0", "3"]
    assert sum(int(row[2]) for row in decisions.values()) == 5

    timing = {row[0]: row[1:] for row in tables["time-to-decision"][1:]}
    # percentile_cont: unlock [48, 48, 72] h, recovery [6, 60] h, all [6, 48, 48, 60, 72] h.
    assert timing["Bootloader unlock permission"] == ["3", "2 d", "2 d 19 h"]
    assert timing["Account recovery"] == ["2", "33 h", "2 d 7 h"]
    assert timing["All kinds"] == ["5", "2 d", "2 d 19 h"]

    by_kind = {row[0]: row[1:] for row in tables["approved-by-kind"][1:]}
    assert by_kind == {"Bootloader unlock permission": ["2", "1", "3", "66.7 %"],
                       "Account recovery": ["2", "0", "2", "100.0 %"]}
    by_country = {row[0]: row[1:] for row in tables["approved-by-country"][1:]}
    assert by_country == {"India (IN)": ["2", "1", "3", "66.7 %"],
                          "Russia (RU)": ["2", "0", "2", "100.0 %"]}
    by_model = {row[0]: row[1:] for row in tables["approved-by-model"][1:]}
    assert by_model == {"Redmi Note 10 Pro": ["2", "1", "3", "66.7 %"],
                        "Poco F5": ["2", "0", "2", "100.0 %"]}

    overdue = tables["overdue"]
    assert overdue[0] == backlog[0] and len(overdue) == 31
    expected = known.overdue()
    for row in overdue[1:]:
        day = next(d for d in expected if day_label(d) == row[0])
        unlock, recovery, appeal = expected[day]
        assert row[1:] == [str(unlock), str(recovery), str(appeal),
                           str(unlock + recovery + appeal)], row
    assert {row[0]: row[1] for row in tables["deliveries"][1:]} == {"Email": "2", "SMS": "1"}


async def test_each_table_downloads_as_the_csv_of_the_same_numbers(desk, known):
    lead = await desk.reviewer(role="lead")
    page = await lead.get("/review/reports")
    tables = page_tables(page.text)
    for key in tables:
        assert f'href="/review/reports.csv?table={key}"' in page.text
        response = await lead.get(f"/review/reports.csv?table={key}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert re.fullmatch(rf'attachment; filename="report-{key}-\d{{4}}-\d\d-\d\d\.csv"',
                            response.headers["content-disposition"])
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert len(rows) == len(tables[key]), key
        assert [h.split(" (")[0] for h in rows[0]] == tables[key][0]
    decisions = list(csv.reader(io.StringIO(
        (await lead.get("/review/reports.csv?table=decisions")).content.decode("utf-8-sig"))))
    assert [known.day(1).isoformat(), "3", "0", "3"] in decisions
    timing = list(csv.reader(io.StringIO(
        (await lead.get("/review/reports.csv?table=time-to-decision")).content.decode(
            "utf-8-sig"))))
    assert timing[0] == ["Kind", "Decisions", "Median (hours)", "90th percentile (hours)"]
    assert ["All kinds", "5", "48.0", "67.2"] in timing
    shares = list(csv.reader(io.StringIO(
        (await lead.get("/review/reports.csv?table=approved-by-kind")).content.decode(
            "utf-8-sig"))))
    assert ["Bootloader unlock permission", "2", "1", "3", "66.7"] in shares
    assert (await lead.get("/review/reports.csv?table=nothing")).status_code == 404


async def test_the_charts_are_valid_svg_with_a_mark_per_value(desk, known):
    lead = await desk.reviewer(role="lead")
    page = (await lead.get("/review/reports")).text
    charts = svgs(page)
    assert set(charts) == {f"chart-{key}" for key in page_tables(page)}
    for chart_id, root in charts.items():
        assert root.tag == f"{SVG}svg"
        assert root.attrib["role"] == "img"
        title = root.find(f"{SVG}title")
        desc = root.find(f"{SVG}desc")
        assert title is not None and title.text and desc is not None and desc.text
        assert root.attrib["aria-labelledby"] == title.attrib["id"] == f"{chart_id}-title"
        assert root.attrib["aria-describedby"] == desc.attrib["id"]
        assert "style" not in ET.tostring(root, encoding="unicode")
    # The backlog and the overdue: a line per kind and a point on each of the 30 days.
    for key in ("backlog", "overdue"):
        assert len(charts[f"chart-{key}"].findall(f"{SVG}polyline")) == 3
        assert len(charts[f"chart-{key}"].findall(f"{SVG}circle")) == 90
    backlog = charts["chart-backlog"]
    texts = [t.text for t in backlog.iter(f"{SVG}text")]
    assert "Open applications" in texts and "Day (UTC)" in texts  # the axes say what they are
    assert "Bootloader unlock permission" in texts  # the legend, in words
    # Decisions: approved and refused stacked, one bar of each per day.
    bars = charts["chart-decisions"].findall(f"{SVG}rect[@class='bar']")
    assert len(bars) == 60
    tips = [bar.find(f"{SVG}title").text for bar in bars]  # type: ignore[union-attr]
    assert f"{known.day(1):%d %b}: Approved 3" in tips
    assert "Decisions" in [t.text for t in charts["chart-decisions"].iter(f"{SVG}text")]
    # Shares: a bar per kind, country or model with decisions.
    for key in ("kind", "country", "model"):
        assert len(charts[f"chart-approved-by-{key}"].findall(f"{SVG}rect[@class='bar']")) == 2
    # Times: median and 90th percentile for both kinds with decisions and for all kinds.
    timing = charts["chart-time-to-decision"].findall(f"{SVG}rect[@class='bar']")
    assert len(timing) == 6
    assert len(charts["chart-deliveries"].findall(f"{SVG}rect[@class='bar']")) == 2


async def test_the_page_keeps_the_csp(desk, known):
    lead = await desk.reviewer(role="lead")
    page = await lead.get("/review/reports")
    assert page.headers["content-security-policy"] == CSP
    # Scripts only as files of our own origin (the desk's keyboard and viewer), none inline.
    for tag, body in re.findall(r"(<script\b[^>]*>)(.*?)</script>", page.text, flags=re.S):
        assert re.fullmatch(r'<script src="/static/[\w/.-]+\.js" defer>', tag), tag
        assert body == ""
    assert " style=" not in page.text and "<style" not in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text)
    # Its layout is a stylesheet of our own origin, which the CSP allows.
    assert '<link rel="stylesheet" href="/static/reports.css">' in page.text
    sheet = await lead.get("/static/reports.css")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/css")


async def test_who_sees_the_reports(client, desk):
    anonymous = await client.get("/review/reports")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/review/login?next=")
    reviewer = await desk.reviewer(role="reviewer")
    refused = await reviewer.get("/review/reports")
    assert refused.status_code == 403
    assert "This page is not open to your role" in refused.text
    assert 'href="/review/reports"' not in (await reviewer.get("/review/queue")).text
    assert (await reviewer.get("/review/reports.csv?table=backlog")).status_code == 403
    for role in ("lead", "admin"):
        signed = await desk.reviewer(role=role)
        assert (await signed.get("/review/reports")).status_code == 200
        assert 'href="/review/reports"' in (await signed.get("/review/queue")).text


async def test_before_the_first_rollup_the_page_says_so(app, desk):
    await make_application(status=Status.QUEUED, due_at=datetime.now(UTC) - timedelta(hours=1))
    await Notification.create(channel="email", recipient="x", template="received",
                              next_attempt_at=datetime.now(UTC), status=DeliveryStatus.DEAD,
                              idempotency_key="dead-early")
    lead = await desk.reviewer(role="lead")
    page = await lead.get("/review/reports")
    assert page.status_code == 200
    assert "No daily figures yet" in page.text
    tables = page_tables(page.text)
    assert {row[0]: row[1] for row in tables["deliveries"][1:]} == {"Email": "1", "SMS": "0"}
    assert tables["backlog"][1][1:] == ["0", "0", "0", "0"]  # not counted until the worker runs


async def test_the_worker_keeps_the_rollups(app, settings):
    await make_application(status=Status.QUEUED)
    await jobs.run_all(settings)
    today = datetime.now(UTC).date()
    row = await ReportDay.get(day=today, dimension="kind", key="unlock")
    assert row.backlog == 1
    # Thirty days, each with a row per kind, after one run.
    assert await ReportDay.filter(dimension="kind").count() == 30 * 3


async def _now_clear_of_midnight() -> datetime:
    """A moment of today that is clear of both midnights: the test steps a minute forward,
    and a step across midnight rightly refreshes the day just ended; for ``SETTLE`` after
    midnight the day before is still refreshed too, for rows committed late. It failed
    when run at 23:59 UTC and again at 00:04. So: past midnight if it is near, and no
    earlier in the day than the settling allows (a moment later than the clock is fine:
    every row the test makes is then in its past)."""
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), dt_time(), UTC)
    if midnight - now < timedelta(minutes=2):
        await asyncio.sleep((midnight - now).total_seconds() + 1)
        now = datetime.now(UTC)
    day_start = datetime.combine(now.date(), dt_time(), UTC)
    return max(now, day_start + rollup.SETTLE + timedelta(minutes=5))


async def test_today_is_refreshed_and_settled_days_are_left_alone(app):
    now = await _now_clear_of_midnight()
    today = now.date()
    queued = await make_application(status=Status.QUEUED, verified_at=now - timedelta(days=3))
    assert today in await reports.refresh(now)
    assert await reports.refresh(now + timedelta(seconds=20)) == []  # a twin run a moment later
    settled = dict(await ReportDay.filter(dimension="kind", key="unlock").values_list(
        "day", "computed_at"))
    # Decided now: today's figures change at the next run, settled days do not.
    await Application.filter(id=queued.id).update(status=Status.APPROVED, decided_at=now)
    written = await reports.refresh(now + timedelta(minutes=1))
    assert written == [today]
    row = await ReportDay.get(day=today, dimension="kind", key="unlock")
    assert (row.approved, row.backlog) == (1, 0)
    yesterday = await ReportDay.get(day=today - timedelta(days=1), dimension="kind",
                                    key="unlock")
    assert yesterday.backlog == 1 and yesterday.computed_at == settled[yesterday.day]


async def test_the_last_count_before_midnight_is_the_days_end(app):
    """Yesterday keeps the backlog its last run before midnight counted, and is rewritten
    (late decisions) until it settles."""
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    before_midnight = end_of(yesterday) - timedelta(minutes=2)
    await make_application(status=Status.QUEUED, verified_at=at(yesterday, 1))
    await make_application(status=Status.QUEUED, verified_at=at(yesterday, 2))
    await reports.refresh(before_midnight)
    # Both are counted open at the end of yesterday. A third arrives after midnight: the
    # snapshot stands for yesterday, and today counts three.
    await make_application(status=Status.QUEUED, verified_at=datetime.now(UTC))
    written = await reports.refresh(end_of(yesterday) + timedelta(minutes=1))
    assert written == [yesterday, today]
    row = await ReportDay.get(day=yesterday, dimension="kind", key="unlock")
    assert row.backlog == 2
    # Settled: written one last time, then never again.
    assert yesterday in await reports.refresh(end_of(yesterday) + timedelta(minutes=11))
    assert yesterday not in await reports.refresh(end_of(yesterday) + timedelta(minutes=12))


def exact_percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])


async def test_percentiles_match_percentile_cont(app):
    """Many decisions spread over minutes to weeks: the histogram's median and 90th
    percentile are within a bucket (2.2 %) of PostgreSQL's percentile_cont (on SQLite, of
    the same computation done exactly in Python)."""
    rng = random.Random(8)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    durations: list[float] = []
    for n in range(400):
        decided = at(yesterday, rng.uniform(0, 23.9))
        seconds = round(rng.lognormvariate(11, 1.3))  # about 17 h, from minutes to weeks
        durations.append(seconds)
        await make_application(status=Status.APPROVED if n % 3 else Status.REJECTED,
                               decided_at=decided,
                               verified_at=decided - timedelta(seconds=seconds))
    await reports.refresh()
    report = await reports.load()
    every = {t.key: t for t in report.timings}["all"]
    if DB_KIND == "postgres":
        _, rows = await connections.get("default").execute_query(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS m, "
            "percentile_cont(0.9) WITHIN GROUP (ORDER BY s) AS p FROM (SELECT "
            "EXTRACT(EPOCH FROM decided_at - verified_at) AS s FROM application "
            "WHERE decided_at IS NOT NULL) AS d")
        median, p90 = float(rows[0]["m"]), float(rows[0]["p"])
    else:
        median, p90 = exact_percentile(durations, 0.5), exact_percentile(durations, 0.9)
    assert median == pytest.approx(statistics.median(durations))
    assert every.decisions == 400
    assert every.median == pytest.approx(median, rel=0.022)
    assert every.p90 == pytest.approx(p90, rel=0.022)


def test_histogram_is_exact_for_few_values():
    values = [60, 3600, 3600, 7200, 86400 * 3]
    buckets: dict[int, histogram.Bucket] = {}
    for value in values:
        index = histogram.bucket_of(value)
        if index in buckets:
            buckets[index].add(value)
        else:
            buckets[index] = histogram.Bucket(index, 1, value, value)
    ordered = histogram.merged(buckets.values())
    for fraction in (0.0, 0.25, 0.5, 0.9, 1.0):
        assert histogram.percentile(ordered, fraction) == pytest.approx(
            exact_percentile([float(v) for v in values], fraction))
    assert histogram.percentile([], 0.5) is None
    assert histogram.bucket_of(0) == 0 and histogram.bucket_of(2**60) == histogram.MAX_BUCKET


async def statements(signed: Any, path: str) -> list[str]:
    with statements_sent() as seen:
        response = await signed.get(path)
    assert response.status_code == 200
    return [sql for sql, _ in seen]


async def test_query_counts_do_not_grow_with_rows(app, desk):
    """The page runs the same statements with 30 decisions or 180; so does a rollup of the
    whole month (a fixed handful per day, however many decisions the day had)."""
    lead = await desk.reviewer(role="lead")
    await lead.get("/review/queue")  # the session's first touch writes
    now = datetime.now(UTC)

    async def add(per_day: int) -> None:
        for offset in range(30):
            day = now.date() - timedelta(days=offset)
            for i in range(per_day):
                await make_application(
                    kind=("unlock", "recovery")[i % 2], country=("IN", "RU", "BR")[i % 3],
                    model=f"Model {i % 7}", status=(Status.APPROVED, Status.REJECTED)[i % 2],
                    verified_at=start_of(day) - timedelta(hours=i + 1),
                    decided_at=min(now, start_of(day) + timedelta(minutes=i + 1)))

    async def full_refresh() -> int:
        await ReportDay.all().delete()
        await ReportDuration.all().delete()
        with statements_sent() as seen:
            await reports.refresh(now)
        return len(seen)

    await add(1)
    few_refresh = await full_refresh()
    few = await statements(lead, "/review/reports")
    await add(5)
    many_refresh = await full_refresh()
    many = await statements(lead, "/review/reports")
    assert len(few) == len(many), "\n".join(many)
    assert len(few) <= 6
    assert few_refresh == many_refresh


async def test_rebuilt_backlog_streams_in_batches(app, monkeypatch):
    """Rebuilding a month reads the applications in batches: more rows, more batches,
    never more than one batch in memory; the counts are the same either way."""
    now = datetime.now(UTC)
    for i in range(7):
        await make_application(status=Status.QUEUED, verified_at=now - timedelta(days=i + 1))
    whole = await rollup.rebuild_backlog(rollup.window(now.date())[:-1])
    monkeypatch.setattr(rollup, "BATCH", 2)
    with statements_sent() as seen:
        batched = await rollup.rebuild_backlog(rollup.window(now.date())[:-1])
    assert batched == whole
    assert len(seen) == 4  # 2 + 2 + 2 + 1 rows
    assert whole[now.date() - timedelta(days=1)] == {"unlock": (7, 0)}
    assert whole[now.date() - timedelta(days=7)] == {"unlock": (1, 0)}


async def test_dead_messages_are_counted_by_channel_now(desk, app):
    lead = await desk.reviewer(role="lead")
    for n in range(3):
        await Notification.create(channel="sms", recipient="x", template="received",
                                  next_attempt_at=datetime.now(UTC), status=DeliveryStatus.DEAD,
                                  idempotency_key=f"dead-{n}")
    tables = page_tables((await lead.get("/review/reports")).text)
    assert {row[0]: row[1] for row in tables["deliveries"][1:]} == {"Email": "0", "SMS": "3"}


async def test_names_from_applicants_are_escaped_in_charts_and_tables(app, desk):
    """A model name is what an applicant typed: in a chart or a table it stays text."""
    hostile = '</text><script>alert(1)</script><text x="0">'
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    await make_application(model=hostile, status=Status.APPROVED,
                           verified_at=at(yesterday, 1), decided_at=at(yesterday, 2))
    await reports.refresh()
    lead = await desk.reviewer(role="lead")
    page = (await lead.get("/review/reports")).text
    assert "<script>" not in page  # the desk's own scripts are <script src=...> files
    assert "&lt;script&gt;alert(1)" in page
    charts = svgs(page)  # still well-formed XML
    labels = [t.text for t in charts["chart-approved-by-model"].iter(f"{SVG}text")]
    assert any(label and label.startswith("</text><script>") for label in labels)
    models = {row[0] for row in page_tables(page)["approved-by-model"][1:]}
    assert hostile in models
