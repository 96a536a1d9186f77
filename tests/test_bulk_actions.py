"""Leads reassign or release several applications at once: each through the workflow, a
failure on one reported by its reference while the rest go on; only leads see and use it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from support.data.models import Application, Event, Status
from tests.factories import make_application as make


async def held_by(signed, n: int) -> list[Application]:
    return [await make(status=Status.IN_REVIEW, assignee=signed.reviewer,
                       claimed_at=datetime.now(UTC)) for _ in range(n)]


def done(page: str) -> list[str]:
    block = re.search(r'<ul class="bulk-done">(.*?)</ul>', page, re.S)
    return re.findall(r'>([A-Z]{2}-[A-Z0-9]{4}-[A-Z0-9]{4})</a>', block.group(1)) if block else []


def failed(page: str) -> dict[str, str]:
    block = re.search(r'<ul class="bulk-failed">(.*?)</ul>', page, re.S)
    return dict(re.findall(r"<strong>([^<]*)</strong>: ([^<]*)</li>", block.group(1))) if block else {}


async def test_lead_reassigns_several_and_each_is_logged(desk):
    lead = await desk.reviewer(role="lead")
    holder = await desk.reviewer()
    target = await desk.reviewer(name="Meera")
    rows = await held_by(holder, 3)
    response = await lead.post("/review/queue/bulk", {
        "action": "reassign", "reviewer_id": str(target.reviewer.id),
        "reference": [row.reference for row in rows], "tab": "in_review"})
    assert response.status_code == 200
    assert "Reassigned 3 applications to Meera." in response.text
    assert done(response.text) == [row.reference for row in rows]
    for row in rows:
        fresh = await Application.get(id=row.id)
        assert fresh.assignee_id == target.reviewer.id  # type: ignore[attr-defined]
        assert await Event.filter(application_id=row.id, type="reassign").count() == 1
    assert 'href="/review/queue?tab=in_review"' in response.text


async def test_one_failure_is_reported_and_the_rest_go_on(desk):
    lead = await desk.reviewer(role="lead")
    holder = await desk.reviewer()
    recovery_only = await desk.reviewer(name="Ravi", kinds=["recovery"])
    unlock, = await held_by(holder, 1)
    recovery = await make(kind="recovery", status=Status.IN_REVIEW, assignee=holder.reviewer)
    # Decided meanwhile (in a queue Ravi works): the state machine refuses it.
    decided = await make(kind="recovery", status=Status.APPROVED, decided_at=datetime.now(UTC))
    response = await lead.post("/review/queue/bulk", {
        "action": "reassign", "reviewer_id": str(recovery_only.reviewer.id),
        "reference": [unlock.reference, recovery.reference, decided.reference, "UL-0000-0000"]})
    assert response.status_code == 200
    assert "Reassigned 1 application to Ravi; 3 could not be." in response.text
    assert done(response.text) == [recovery.reference]
    reasons = failed(response.text)
    assert reasons[unlock.reference] == "That reviewer does not work this application&#39;s queue."
    assert "cannot be done now" in reasons[decided.reference]
    assert reasons["UL-0000-0000"] == "No such application in your queues."
    assert (await Application.get(id=unlock.id)).assignee_id == holder.reviewer.id  # type: ignore[attr-defined]


async def test_lead_releases_several(desk):
    lead = await desk.reviewer(role="lead")
    holder = await desk.reviewer()
    rows = await held_by(holder, 2)
    already = await make()  # queued: nothing to release
    response = await lead.post("/review/queue/bulk", {
        "action": "release", "reference": [*(r.reference for r in rows), already.reference]})
    assert "Released 2 applications to the queue; 1 could not be." in response.text
    for row in rows:
        fresh = await Application.get(id=row.id)
        assert fresh.status is Status.QUEUED and fresh.assignee_id is None  # type: ignore[attr-defined]


async def test_reviewers_neither_see_nor_use_it(desk):
    reviewer = await desk.reviewer()
    other = await desk.reviewer()
    rows = await held_by(other, 2)
    page = (await reviewer.get("/review/queue?tab=in_review")).text
    assert 'id="bulk-actions"' not in page and 'type="checkbox"' not in page
    response = await reviewer.post("/review/queue/bulk", {
        "action": "release", "reference": [r.reference for r in rows]})
    assert response.status_code == 403
    for row in rows:
        assert (await Application.get(id=row.id)).status is Status.IN_REVIEW


async def test_lead_sees_a_box_on_each_row_in_review(desk):
    lead = await desk.reviewer(role="lead")
    rows = await held_by(await desk.reviewer(), 2)
    queued = await make()
    page = (await lead.get("/review/queue?tab=in_review")).text
    assert 'form id="bulk-actions"' in page or 'id="bulk-actions"' in page
    boxes = re.findall(r'<input type="checkbox" name="reference" value="([^"]+)" '
                       r'form="bulk-actions"', page)
    assert sorted(boxes) == sorted(r.reference for r in rows)
    queued_page = (await lead.get("/review/queue")).text
    assert queued.reference in queued_page and 'id="bulk-actions"' not in queued_page


async def test_nothing_selected_or_no_target_is_a_clear_400(desk):
    lead = await desk.reviewer(role="lead")
    row, = await held_by(await desk.reviewer(), 1)
    response = await lead.post("/review/queue/bulk", {"action": "reassign", "reference": []})
    assert response.status_code == 400
    assert "Select at least one application first." in response.text
    response = await lead.post("/review/queue/bulk", {
        "action": "reassign", "reference": [row.reference], "reviewer_id": "abc"})
    assert response.status_code == 400
    assert "Choose the reviewer to reassign them to." in response.text
    response = await lead.post("/review/queue/bulk", {"action": "erase",
                                                      "reference": [row.reference]})
    assert response.status_code == 400
    response = await lead.post("/review/queue/bulk", {
        "action": "release", "reference": [f"UL-{n:04d}-0000" for n in range(51)]})
    assert response.status_code == 400
    assert (await Application.get(id=row.id)).status is Status.IN_REVIEW


async def test_without_the_csrf_token_nothing_happens(desk):
    lead = await desk.reviewer(role="lead")
    row, = await held_by(await desk.reviewer(), 1)
    response = await lead.client.post("/review/queue/bulk", data={
        "action": "release", "reference": row.reference})
    assert response.status_code == 403
    assert (await Application.get(id=row.id)).status is Status.IN_REVIEW
