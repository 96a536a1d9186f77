"""CSV exports: the queue as filtered on the page and within the reviewer's scope, streamed
in keyset batches, safe to open in a spreadsheet, logged (issue 8)."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from support.data.db import statements_sent
from support.data.models import Reviewer, RiskFlag, Status
from support.reads import exports
from support.reads.exports import neutralise
from tests.conftest import BASE
from tests.factories import make_application

HEADER = ["Reference", "Kind", "State", "Country", "Model", "Firmware", "Priority",
          "Submitted (UTC)", "Confirmed (UTC)", "Due (UTC)", "Decided (UTC)", "Refusal reason",
          "Assignee", "Risk flags"]
CONTACTS = ["Account ID", "Phone", "Email", "IMEI"]


def table(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text[:300]
    assert response.content.startswith(b"\xef\xbb\xbf")  # a BOM: Excel then reads UTF-8
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def references(rows: list[list[str]]) -> list[str]:
    return [row[0] for row in rows[1:]]


async def test_the_export_has_the_pages_filters_and_order(desk):
    lead = await desk.reviewer(role="lead")
    now = datetime.now(UTC)
    wanted = [await make_application(kind="unlock", country="IN",
                                     due_at=now + timedelta(hours=h)) for h in (5, 1, 3)]
    await make_application(kind="unlock", country="RU")
    await make_application(kind="recovery", country="IN")
    await make_application(kind="unlock", country="IN", status=Status.IN_REVIEW)
    response = await lead.get("/review/queue.csv?kind=unlock&country=IN")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(rf'attachment; filename="queue-queued-{now:%Y-%m-%d}\.csv"',
                        response.headers["content-disposition"])
    assert "no-store" in response.headers["cache-control"]
    rows = table(response)
    assert rows[0] == HEADER
    by_due = sorted(wanted, key=lambda a: a.due_at)
    assert references(rows) == [a.reference for a in by_due]  # the queue's order
    first = dict(zip(HEADER, rows[1], strict=True))
    assert first["Kind"] == "Bootloader unlock permission"
    assert first["State"] == "Waiting for a reviewer"
    assert first["Due (UTC)"] == by_due[0].due_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    # The page links to exactly this export.
    page = await lead.get("/review/queue?kind=unlock&country=IN")
    assert 'href="/review/queue.csv?tab=queued&amp;kind=unlock&amp;country=IN"' in page.text


async def test_every_filter_of_the_queue_applies(desk):
    lead = await desk.reviewer(role="lead")
    holder = await desk.reviewer(name="Holder")
    flagged = await make_application(model="Poco F5")
    await RiskFlag.create(application=flagged, code="same_imei", reason="r", related=[])
    other = await make_application(model="Poco F5")
    held = await make_application(status=Status.IN_REVIEW, assignee=holder.reviewer)
    decided = await make_application(status=Status.APPROVED, decided_at=datetime.now(UTC))
    cases = {
        "model=Poco+F5": [flagged, other],
        "flag=same_imei": [flagged],
        f"tab=in_review&assignee={holder.reviewer.id}": [held],
        "tab=decided": [decided],
        f"q={other.imei}": [other],
        f"q={other.reference}": [other],
    }
    for query, expected in cases.items():
        rows = table(await lead.get(f"/review/queue.csv?{query}"))
        assert sorted(references(rows)) == sorted(a.reference for a in expected), query
    rows = table(await lead.get("/review/queue.csv?flag=same_imei"))
    assert rows[1][HEADER.index("Risk flags")] == "Same IMEI, other account"
    held_row = table(await lead.get("/review/queue.csv?tab=in_review"))[1]
    assert held_row[HEADER.index("Assignee")] == "Holder"


async def test_a_reviewer_exports_only_their_queues(desk):
    unlock_in = await make_application(kind="unlock", country="IN")
    unlock_ru = await make_application(kind="unlock", country="RU")
    recovery = await make_application(kind="recovery", country="IN")
    scoped = await desk.reviewer(kinds=["unlock"], countries=["RU"])
    assert references(table(await scoped.get("/review/queue.csv"))) == [unlock_ru.reference]
    # Asking for another queue's rows by filter finds nothing.
    assert references(table(await scoped.get("/review/queue.csv?kind=recovery"))) == []
    assert references(table(await scoped.get("/review/queue.csv?country=IN"))) == []
    assert references(table(await scoped.get(f"/review/queue.csv?q={recovery.reference}"))) == []
    lead = await desk.reviewer(role="lead")
    assert sorted(references(table(await lead.get("/review/queue.csv")))) == sorted(
        a.reference for a in (unlock_in, unlock_ru, recovery))


async def test_contact_details_only_for_leads_and_only_when_asked(desk):
    application = await make_application()
    reviewer = await desk.reviewer()
    plain = await reviewer.get("/review/queue.csv")
    rows = table(plain)
    assert rows[0] == HEADER
    for secret in (application.phone, application.email, application.account_id,
                   application.imei):
        assert secret not in plain.text
    refused = await reviewer.get("/review/queue.csv?contacts=1")
    assert refused.status_code == 403
    assert application.email not in refused.text
    assert "with contact details" not in (await reviewer.get("/review/queue")).text
    lead = await desk.reviewer(role="lead")
    assert "with contact details" in (await lead.get("/review/queue")).text
    response = await lead.get("/review/queue.csv?contacts=1")
    assert "queue-queued-contacts-" in response.headers["content-disposition"]
    rows = table(response)
    assert rows[0] == HEADER + CONTACTS
    contact = dict(zip(rows[0], rows[1], strict=True))
    assert contact["Email"] == application.email
    assert contact["Phone"] == "'" + application.phone  # "+91…" would start a formula
    assert contact["IMEI"] == application.imei
    assert contact["Account ID"] == application.account_id
    assert (await lead.get("/review/queue.csv")).text.count(application.email) == 0


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_starts_are_neutralised(start):
    assert neutralise(f"{start}HYPERLINK(\"http://x\")") == f"'{start}HYPERLINK(\"http://x\")"
    assert neutralise(f"a{start}b") == f"a{start}b"


def test_numbers_and_plain_text_are_left_alone():
    assert neutralise(-5) == -5 and neutralise(3.5) == 3.5 and neutralise(None) is None
    assert neutralise("Redmi Note 10 Pro") == "Redmi Note 10 Pro"
    assert exports.encode([["a,b", 'say "hi"', "line\nbreak"]]) == (
        b'"a,b","say ""hi""","line\nbreak"\r\n')


async def test_cells_from_applicants_and_reviewers_cannot_run_in_a_spreadsheet(desk):
    lead = await desk.reviewer(role="lead")
    holder = await desk.reviewer(name="@SUM(1+1)*cmd|' /C calc'!A0")
    await make_application(model="=HYPERLINK(\"http://evil.example\",\"x\")",
                           firmware="+1+cmd|' /C calc'!A0", status=Status.IN_REVIEW,
                           assignee=holder.reviewer)
    await Reviewer.filter(id=holder.reviewer.id).update(name="@SUM(1+1)*cmd|' /C calc'!A0")
    rows = table(await lead.get("/review/queue.csv?tab=in_review"))
    row = dict(zip(HEADER, rows[1], strict=True))
    assert row["Model"] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert row["Firmware"] == "'+1+cmd|' /C calc'!A0"
    assert row["Assignee"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    for cells in rows:
        for cell in cells:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


async def test_utf8_survives(desk):
    lead = await desk.reviewer(role="lead")
    holder = await desk.reviewer(name="Ольга Сидорова")
    await make_application(status=Status.IN_REVIEW, assignee=holder.reviewer, model="Mi 11 Ultra ✓")
    row = table(await lead.get("/review/queue.csv?tab=in_review"))[1]
    assert row[HEADER.index("Assignee")] == "Ольга Сидорова"
    assert row[HEADER.index("Model")] == "Mi 11 Ultra ✓"


@pytest.mark.parametrize("tab", ["queued", "decided"])
async def test_batches_follow_the_keyset_without_gaps_or_repeats(desk, monkeypatch, tab):
    """Rows sharing a due date (or a decision time) straddle batch boundaries: every row
    comes out once, in the page's order."""
    lead = await desk.reviewer(role="lead")
    monkeypatch.setattr(exports, "BATCH", 4)
    moment = datetime.now(UTC).replace(microsecond=0)
    made = []
    for i in range(11):
        if tab == "decided":
            made.append(await make_application(status=Status.APPROVED,
                                               decided_at=moment - timedelta(hours=i // 3)))
        else:
            made.append(await make_application(priority=10 if i % 5 == 0 else 0,
                                               due_at=moment + timedelta(hours=i // 3)))
    if tab == "decided":
        expected = sorted(made, key=lambda a: (a.decided_at, a.id), reverse=True)
    else:
        expected = sorted(made, key=lambda a: (-a.priority, a.due_at, a.id))
    with statements_sent() as seen:
        rows = table(await lead.get(f"/review/queue.csv?tab={tab}"))
    assert references(rows) == [a.reference for a in expected]
    reads = [sql for sql, _ in seen if 'FROM "application"' in sql]
    assert len(reads) == 3  # 4 + 4 + 3 rows: one read of ids and rows per batch


async def test_statements_grow_with_batches_not_rows(desk, monkeypatch):
    lead = await desk.reviewer(role="lead")
    await lead.get("/review/queue")  # the session's first touch writes

    async def count() -> int:
        with statements_sent() as seen:
            response = await lead.get("/review/queue.csv")
        assert response.status_code == 200
        return len(seen)

    for _ in range(3):
        await make_application()
    few = await count()
    for _ in range(40):
        await make_application()
    assert await count() == few  # one batch either way
    monkeypatch.setattr(exports, "BATCH", 10)
    assert await count() == few + 2 * 4  # 43 rows: 5 batches, two statements each


async def test_every_export_is_logged_without_personal_data(desk, caplog):
    application = await make_application()
    lead = await desk.reviewer(role="lead")
    with caplog.at_level(logging.INFO, logger="support.audit"):
        await lead.get(f"/review/queue.csv?contacts=1&kind=unlock&q={application.phone}")
        await lead.get("/review/reports.csv?table=backlog")
    lines = [r.getMessage() for r in caplog.records if r.name == "support.audit"]
    assert lines == [
        f"export queue (tab=queued, kind=unlock, search=yes, contacts=yes) by "
        f"reviewer:{lead.reviewer.id} (lead), rows: 1, complete",
        f"export report table backlog by reviewer:{lead.reviewer.id} (lead), rows: 30, "
        f"complete",
    ]
    assert application.phone not in "\n".join(lines)


async def test_anonymous_exports_go_to_sign_in(client):
    for path in ("/review/queue.csv", "/review/reports.csv?table=backlog"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/review/login?next=")


async def test_a_download_abandoned_halfway_stops_reading_and_says_so(app, desk, caplog,
                                                                      monkeypatch):
    """The browser goes away after the first rows: no more batches are read, and the audit
    line says the export was interrupted, at once (not when the garbage collector runs)."""
    monkeypatch.setattr(exports, "BATCH", 2)
    for _ in range(9):
        await make_application()
    lead = await desk.reviewer(role="lead")
    token = lead.client.cookies["support_session"]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "server": ("testserver", 80),
             "client": ("127.0.0.1", 5000), "root_path": "", "path": "/review/queue.csv",
             "raw_path": b"/review/queue.csv", "query_string": b"",
             "headers": [(b"host", b"testserver"), (b"cookie", f"support_session={token}".encode())]}
    sent: list[dict[str, Any]] = []
    first_rows = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await first_rows.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("body", b"").count(b"\r\n") >= 2:
            first_rows.set()
            await asyncio.sleep(0.05)  # the next batch would be read now, were we still here

    with caplog.at_level(logging.INFO, logger="support.audit"):
        with statements_sent() as seen:
            await app(scope, receive, send)
    lines = [r.getMessage() for r in caplog.records if r.name == "support.audit"]
    assert len(lines) == 1 and lines[0].endswith("interrupted"), lines
    rows = int(re.search(r"rows: (\d+)", lines[0]).group(1))  # type: ignore[union-attr]
    assert rows < 9
    assert not any(m.get("more_body") is False for m in sent if m["type"] == "http.response.body")
    assert len([sql for sql, _ in seen if 'FROM "application"' in sql]) < 5


@pytest.mark.parametrize("query", [
    "assignee=%C2%B2", "assignee=" + "9" * 30, f"assignee={2**31}", "kind=%00", "q=%00",
    "model=Poco%00F5", "tab=nope", "country=IND", "model=" + "x" * 65,
])
async def test_an_export_with_a_filter_it_cannot_use_is_refused_before_its_first_byte(
        app, desk, caplog, query):
    """It answered 200 and then the stream was cut (issue 19): a user got a truncated file
    that looked whole. A filter the page would leave out answers 400, and no file at all:
    an export must hold exactly the rows asked for."""
    lead = await desk.reviewer(role="lead")
    await make_application()
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE,
                                  cookies=lead.client.cookies) as browser:
        with caplog.at_level(logging.INFO, logger="support.audit"):
            response = await browser.get(f"/review/queue.csv?{query}")
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    assert "This export was not started" in response.text
    assert "no-store" in response.headers["cache-control"]
    assert not [r for r in caplog.records if r.name == "support.audit"]  # no export ran


async def test_an_export_whose_first_read_fails_is_an_error_page_not_a_200(app, desk,
                                                                          monkeypatch):
    async def failing(self: Any, size: int | None = None) -> Any:
        raise RuntimeError("the database went away")
        yield  # an async generator, as the real one

    monkeypatch.setattr(exports.QueueExport, "batches", failing)
    lead = await desk.reviewer(role="lead")
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE,
                                  cookies=lead.client.cookies) as browser:
        response = await browser.get("/review/queue.csv")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")


async def test_an_export_that_fails_part_way_says_so_in_its_last_line_and_is_aborted(
        app, desk, caplog, monkeypatch):
    """After the first byte an error cannot become an error page. The file then ends with
    a line saying it is incomplete, the response is aborted (no last chunk: the browser
    reports a failed download, not a finished one) and the audit line says it failed."""
    original = exports.QueueExport.batches

    async def failing(self: Any, size: int | None = None) -> Any:
        async for batch in original(self, 2):
            yield batch
            raise RuntimeError("the database went away")

    monkeypatch.setattr(exports.QueueExport, "batches", failing)
    made = [await make_application() for _ in range(5)]
    lead = await desk.reviewer(role="lead")
    token = lead.client.cookies["support_session"]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
             "http_version": "1.1", "method": "GET", "scheme": "http",
             "server": ("testserver", 80), "client": ("127.0.0.1", 5000), "root_path": "",
             "path": "/review/queue.csv", "raw_path": b"/review/queue.csv",
             "query_string": b"", "headers": [
                 (b"host", b"testserver"), (b"cookie", f"support_session={token}".encode())]}
    sent: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the browser stays
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with caplog.at_level(logging.INFO, logger="support.audit"), \
            pytest.raises(RuntimeError, match="went away"):
        await app(scope, receive, send)  # raised on: uvicorn then drops the connection
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert not any(m.get("more_body") is False for m in bodies)  # never ended cleanly
    content = b"".join(m.get("body", b"") for m in bodies).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(content, newline="")))
    assert lines[0] == HEADER and len(lines) == 4
    assert {row[0] for row in lines[1:3]} <= {a.reference for a in made}
    assert lines[-1][0].startswith("EXPORT INCOMPLETE: an error stopped it after 2 rows.")
    audit = [r.getMessage() for r in caplog.records if r.name == "support.audit"]
    assert len(audit) == 1 and audit[0].endswith("rows: 2, failed"), audit
