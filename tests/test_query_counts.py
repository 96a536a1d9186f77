"""No page's query count grows with its number of rows.

Each desk page is requested once with a few rows and once with many (more than a page),
and the SQL statements Tortoise sends are counted from its ``tortoise.db_client`` DEBUG
log, which both the SQLite and the PostgreSQL clients write for every statement. An N+1
(a query per row, per flag, per event) shows up here as a difference; B2
(bench/b2_queue.py) measures the same pages at a million rows.
"""

from __future__ import annotations

import html
import itertools
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.data.db import statements_sent
from support.data.models import Application, Document, Event, RiskFlag, Status
from support.reads import queue
from tests.factories import make_application

_imeis = itertools.count(1)


async def statements(signed: Any, path: str, *, post: bool = False,
                     expect: int = 200) -> list[str]:
    if post and "support_csrf" not in signed.client.cookies:
        await signed.get("/")
    with statements_sent() as seen:
        response = await (signed.post(path) if post else signed.get(path))
    assert response.status_code == expect, response.text[:500]
    return [sql for sql, _ in seen]


def same_count(few: list[str], many: list[str], what: str) -> None:
    assert few, f"{what}: no statement was counted"
    assert len(few) == len(many), (
        f"{what}: {len(few)} statements with few rows, {len(many)} with many\n"
        + "\n".join(many)
    )


def references(page: str) -> list[str]:
    return re.findall(r'class="reference" href="/review/applications/([A-Z0-9-]+)"', page)


def next_link(page: str) -> str | None:
    match = re.search(r'href="(/review/queue\?[^"]*)">Next 50</a>', page)
    return html.unescape(match.group(1)) if match else None


MIX = [Status.QUEUED, Status.QUEUED, Status.IN_REVIEW, Status.NEEDS_INFO, Status.APPROVED]


async def add_rows(count: int, holder: Any, mix: list[Status] = MIX) -> list[Application]:
    """Rows over every tab by default: queued (every other one flagged), in review,
    needing information, decided."""
    now = datetime.now(UTC)
    made = []
    for i in range(count):
        status = mix[i % len(mix)]
        row = await make_application(
            status=status,
            assignee=holder if status is Status.IN_REVIEW else None,
            decided_at=now - timedelta(minutes=i) if status is Status.APPROVED else None,
            due_at=now + timedelta(hours=i),
        )
        if i % 2 == 0:
            await RiskFlag.create(application=row, code="same_imei", reason="r", related=[])
        made.append(row)
    return made


def cursor_after(row: Application, tab: str) -> str:
    key = [0, row.decided_at, row.id] if tab == "decided" else [row.priority, row.due_at, row.id]
    return queue.encode_cursor(key)


QUEUE_PAGES = {
    "first page": "/review/queue",
    "mine": "/review/queue?tab=mine",
    "in review": "/review/queue?tab=in_review",
    "decided": "/review/queue?tab=decided",
    "filtered": "/review/queue?country=IN&kind=unlock&flag=same_imei",
}


@pytest.mark.parametrize("role", ["lead", "reviewer"])
async def test_queue_pages(desk, role):
    signed = await desk.reviewer(role=role, kinds=["unlock", "appeal"])
    await signed.get("/review/queue")  # warm up: the session's first touch writes
    searched = (await add_rows(5, signed.reviewer))[0]
    search = f"/review/queue?q={searched.imei}"
    few = {name: await statements(signed, path) for name, path in QUEUE_PAGES.items()}
    few["search"] = await statements(signed, search)
    await add_rows(150, signed.reviewer)
    for name, path in QUEUE_PAGES.items():
        same_count(few[name], await statements(signed, path), name)
    same_count(few["search"], await statements(signed, search), "search")


@pytest.mark.parametrize("tab", ["queued", "decided"])
async def test_page_two_by_cursor(desk, tab):
    signed = await desk.reviewer(role="lead")
    await signed.get("/review/queue")
    mix = [Status.APPROVED] if tab == "decided" else [Status.QUEUED]
    await add_rows(5, signed.reviewer, mix)
    ordering = ("-decided_at", "-id") if tab == "decided" else ("-priority", "due_at", "id")
    first = await Application.filter(status__in=mix).order_by(*ordering).first()
    assert first is not None
    few_path = f"/review/queue?tab={tab}&after={cursor_after(first, tab)}"
    few_page = await signed.get(few_path)
    assert len(references(few_page.text)) > 0
    few = await statements(signed, few_path)
    await add_rows(120, signed.reviewer, mix)
    first_page = await signed.get(f"/review/queue?tab={tab}")
    link = next_link(first_page.text)
    assert link is not None and "after=" in link
    many = await statements(signed, link)
    same_count(few, many, f"page 2 of {tab}")
    # And page 3 costs what page 2 does.
    second = await signed.get(link)
    third = next_link(second.text)
    assert third is not None
    same_count(many, await statements(signed, third), f"page 3 of {tab}")


async def _application_with(events: int, documents: int) -> Application:
    row = await make_application(kind="recovery", imei=f"49015420{next(_imeis):07d}")
    for i in range(events):
        await Event.create(application=row, actor="applicant", type="note", message=f"n{i}")
    for i in range(documents):
        await Document.create(application=row, purpose="receipt" if i == 0 else "box_photo",
                              content_type="image/jpeg", size=10, sha256=secrets.token_hex(32),
                              storage_key=secrets.token_hex(16), original_name=f"{i}.jpg")
    return row


async def _detail(signed: Any, row: Application) -> list[str]:
    path = f"/review/applications/{row.reference}"
    await signed.get(path)  # the first view may write its flags; count a settled view
    return await statements(signed, path)


async def test_application_page(desk):
    signed = await desk.reviewer(role="lead")
    await add_rows(3, signed.reviewer)
    few = await _detail(signed, await _application_with(events=3, documents=1))
    await add_rows(60, signed.reviewer)
    many = await _detail(signed, await _application_with(events=60, documents=3))
    same_count(few, many, "application page")


async def test_application_page_with_many_related_applications(desk):
    """Related references are capped (risk.RELATED_LIMIT) and their total is one count:
    25 applications with the same IMEI cost what 80 do."""
    signed = await desk.reviewer(role="lead")

    async def viewed_with_twins(twins: int) -> Application:
        row = await _application_with(events=2, documents=1)
        for _ in range(twins):
            await make_application(kind="recovery", imei=row.imei)
        return row

    few = await _detail(signed, await viewed_with_twins(25))
    many = await _detail(signed, await viewed_with_twins(80))
    same_count(few, many, "application page, many related")


async def _refused_appeal(refuser: Any) -> Application:
    original = await make_application(status=Status.REJECTED, decided_at=datetime.now(UTC),
                                      decided_by=refuser)
    return await make_application(kind="appeal", appeal_of=original, account_id=original.account_id)


async def test_claim_next(desk):
    """Appeals against this reviewer's refusals sit at the top of the queue (priority 10);
    skipping 2 or 40 of them costs the same statements."""
    signed = await desk.reviewer()
    other = await desk.reviewer()
    await signed.get("/review/queue")
    for _ in range(2):
        await _refused_appeal(signed.reviewer)
    await add_rows(3, other.reviewer)
    few = await statements(signed, "/review/next", post=True, expect=303)
    for _ in range(38):
        await _refused_appeal(signed.reviewer)
    await add_rows(60, other.reviewer)
    many = await statements(signed, "/review/next", post=True, expect=303)
    same_count(few, many, "claim next")
    claimed = await Application.filter(status=Status.IN_REVIEW,
                                       assignee_id=signed.reviewer.id).count()
    assert claimed == 2
    assert await Application.filter(kind="appeal", status=Status.QUEUED).count() == 40


async def test_counts_stop_at_the_cap(desk):
    """A tab's count reads at most cap + 1 rows, and the page says where it stopped."""
    signed = await desk.reviewer(role="lead")
    await add_rows(20, signed.reviewer)
    queued = Application.filter(status=Status.QUEUED)
    assert await queue.capped_count(queued) == 8
    assert await queue.capped_count(queued, cap=5) == 6
    assert await queue.capped_count(queued, cap=8) == 8
    page = queue.QueuePage(rows=[], flags={}, counts={"queued": 10_001, "mine": 1_234},
                           next_cursor=None, filters=queue.Filters())
    assert page.count_label("queued") == "10,000+"
    assert page.count_label("mine") == "1,234"
    assert page.count_label("decided") == "0"
