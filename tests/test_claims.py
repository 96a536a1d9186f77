"""Claiming: atomic under concurrency, in queue order, holds, the appeal bar, and the
30-minute lease."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from support import workflow
from support.data.models import Application, Event, Reviewer, Status
from support.workflow import DomainError
from tests.factories import make_application

_numbers = itertools.count(1)


make = make_application


async def reviewer(role: str = "reviewer", **overrides: Any) -> Reviewer:
    n = next(_numbers)
    data: dict[str, Any] = {
        "email": f"claimer{n}@example.com", "name": f"Claimer {n}", "role": role,
        "password_hash": "-", "kinds": ["unlock", "recovery", "appeal"], "countries": [],
    }
    data.update(overrides)
    return await Reviewer.create(**data)


def actor(who: Reviewer) -> workflow.Actor:
    return workflow.reviewer_actor(who)


# Concurrency

async def _race(claimers: list[Reviewer]) -> list[Application | None]:
    start = asyncio.Event()

    async def one(who: Reviewer) -> Application | None:
        await start.wait()
        return await workflow.claim_next(who)

    tasks = [asyncio.create_task(one(who)) for who in claimers]
    await asyncio.sleep(0)
    start.set()
    return list(await asyncio.gather(*tasks))


async def test_twenty_concurrent_claimers_never_share_an_application(app):
    for _ in range(30):
        await make()
    claimers = [await reviewer() for _ in range(20)]
    results = await _race(claimers)
    assert all(result is not None for result in results)
    claimed_ids = [result.id for result in results if result is not None]
    assert len(set(claimed_ids)) == 20
    rows = await Application.filter(status=Status.IN_REVIEW)
    assert len(rows) == 20
    assert {row.id for row in rows} == set(claimed_ids)
    assignees = [row.assignee_id for row in rows]  # type: ignore[attr-defined]
    assert sorted(assignees) == sorted(who.id for who in claimers)
    # Each claimer got the row the database says it holds.
    for who, result in zip(claimers, results, strict=True):
        assert result is not None
        assert result.assignee_id == who.id  # type: ignore[attr-defined]
    events = await Event.filter(type="claim").values_list("application_id", "actor")
    per_application = Counter(application_id for application_id, _ in events)
    assert sorted(per_application) == sorted(claimed_ids)
    assert set(per_application.values()) == {1}
    assert {who for _, who in events} == {f"reviewer:{c.id}" for c in claimers}
    assert await Application.filter(status=Status.QUEUED).count() == 10


async def test_more_claimers_than_applications(app):
    for _ in range(5):
        await make()
    claimers = [await reviewer() for _ in range(20)]
    results = await _race(claimers)
    won = [result for result in results if result is not None]
    assert len(won) == 5
    assert results.count(None) == 15
    assert len({result.id for result in won}) == 5
    assert await Application.filter(status=Status.IN_REVIEW).count() == 5
    assert await Application.filter(status=Status.QUEUED).count() == 0
    assert await Event.filter(type="claim").count() == 5
    assignees = await Application.all().values_list("assignee_id", flat=True)
    assert len(set(assignees)) == 5


async def test_concurrent_direct_claims_of_one_application(app):
    target = await make()
    claimers = [await reviewer() for _ in range(10)]

    async def one(who: Reviewer) -> bool:
        try:
            await workflow.claim(await Application.get(id=target.id), actor(who))
        except DomainError:
            return False
        return True

    outcomes = await asyncio.gather(*(one(who) for who in claimers))
    assert outcomes.count(True) == 1
    assert await Event.filter(type="claim").count() == 1


async def test_two_reviewers_press_next_at_once(desk):
    first = await desk.reviewer()
    second = await desk.reviewer()
    for _ in range(2):
        await make()
    for signed in (first, second):
        await signed.get("/review/queue")  # the CSRF cookie, as a browser would have
    responses = await asyncio.gather(first.post("/review/next"), second.post("/review/next"))
    locations = [response.headers["location"] for response in responses]
    assert all(response.status_code == 303 for response in responses)
    assert all(loc.startswith("/review/applications/") for loc in locations)
    assert locations[0] != locations[1]
    held = {row.assignee_id for row in await Application.filter(status=Status.IN_REVIEW)}  # type: ignore[attr-defined]
    assert held == {first.reviewer.id, second.reviewer.id}


async def test_next_on_an_empty_queue_says_so(desk):
    signed = await desk.reviewer()
    response = await signed.post("/review/next")
    assert response.status_code == 303
    assert response.headers["location"] == "/review/queue?notice=empty"
    page = await signed.get(response.headers["location"])
    assert "Nothing is waiting in your queues." in page.text


# Order and scope

async def test_claims_follow_priority_then_due(app):
    now = datetime.now(UTC)
    late = await make(due_at=now + timedelta(hours=20))
    overdue = await make(due_at=now - timedelta(hours=2))
    appeal = await make(kind="appeal", due_at=now + timedelta(hours=30))
    soon = await make(due_at=now + timedelta(hours=1))
    urgent = await make(priority=20, due_at=now + timedelta(days=3))
    who = await reviewer()
    order = []
    for _ in range(5):
        claimed = await workflow.claim_next(who)
        assert claimed is not None
        order.append(claimed.reference)
    assert order == [urgent.reference, appeal.reference, overdue.reference, soon.reference,
                     late.reference]
    assert await workflow.claim_next(who) is None


async def test_next_takes_only_from_the_reviewers_queues(app):
    now = datetime.now(UTC)
    await make(kind="unlock", due_at=now - timedelta(days=1))
    await make(kind="recovery", country="IN")
    russian = await make(kind="recovery", country="RU", phone="+79161234567",
                         due_at=now + timedelta(days=2))
    who = await reviewer(kinds=["recovery"], countries=["RU"])
    claimed = await workflow.claim_next(who)
    assert claimed is not None and claimed.reference == russian.reference
    assert await workflow.claim_next(who) is None


async def test_claiming_outside_ones_queues_is_refused(app):
    target = await make(kind="unlock")
    who = await reviewer(kinds=["recovery"])
    try:
        await workflow.claim(target, actor(who))
    except DomainError as exc:
        assert "not in your queues" in exc.message
    else:
        raise AssertionError("claimed an application outside the reviewer's queues")
    assert (await Application.get(id=target.id)).status is Status.QUEUED


# Holds

async def test_a_held_application_waits_for_the_reviewer_it_is_held_for(app):
    asker = await reviewer()
    other = await reviewer()
    held = await make(held_for=asker, held_until=datetime.now(UTC) + timedelta(hours=20),
                      due_at=datetime.now(UTC) - timedelta(days=1))
    assert await workflow.claim_next(other) is None
    try:
        await workflow.claim(held, actor(other))
    except DomainError:
        pass
    else:
        raise AssertionError("another reviewer claimed a held application")
    assert (await Application.get(id=held.id)).status is Status.QUEUED
    claimed = await workflow.claim_next(asker)
    assert claimed is not None and claimed.id == held.id
    fresh = await Application.get(id=held.id)
    assert fresh.assignee_id == asker.id  # type: ignore[attr-defined]
    assert fresh.held_for_id is None and fresh.held_until is None  # type: ignore[attr-defined]


async def test_held_application_is_skipped_for_the_next_one(app):
    asker = await reviewer()
    other = await reviewer()
    now = datetime.now(UTC)
    await make(held_for=asker, held_until=now + timedelta(hours=20),
               due_at=now - timedelta(days=1))
    free = await make(due_at=now + timedelta(days=1))
    claimed = await workflow.claim_next(other)
    assert claimed is not None and claimed.id == free.id


async def test_a_hold_ends_when_its_time_is_up(app):
    asker = await reviewer()
    other = await reviewer()
    held = await make(held_for=asker, held_until=datetime.now(UTC) + timedelta(hours=20))
    assert await workflow.claim_next(other) is None
    await Application.filter(id=held.id).update(
        held_until=datetime.now(UTC) - timedelta(minutes=1))
    claimed = await workflow.claim_next(other)
    assert claimed is not None and claimed.id == held.id
    assert claimed.assignee_id == other.id  # type: ignore[attr-defined]


async def test_an_expired_hold_can_be_claimed_directly(app):
    asker = await reviewer()
    other = await reviewer()
    held = await make(held_for=asker, held_until=datetime.now(UTC) - timedelta(minutes=1))
    claimed = await workflow.claim(held, actor(other))
    assert claimed.assignee_id == other.id  # type: ignore[attr-defined]


# The appeal bar

async def _appeal_of_refusal_by(refuser: Reviewer) -> tuple[Application, Application]:
    now = datetime.now(UTC)
    original = await make(status=Status.REJECTED, decided_by=refuser, decided_at=now,
                          decision_code="reason_insufficient", decision_text="No.")
    appeal = await make(kind="appeal", appeal_of=original, account_id=original.account_id,
                        submission_key=f"appeal-{original.id}")
    return original, appeal


async def test_the_refuser_cannot_take_the_appeal_by_next(app):
    refuser = await reviewer()
    other = await reviewer()
    _, appeal = await _appeal_of_refusal_by(refuser)
    assert await workflow.claim_next(refuser) is None
    claimed = await workflow.claim_next(other)
    assert claimed is not None and claimed.id == appeal.id


async def test_the_refuser_skips_the_appeal_and_gets_the_next_one(app):
    refuser = await reviewer()
    _, appeal = await _appeal_of_refusal_by(refuser)
    ordinary = await make(due_at=datetime.now(UTC) + timedelta(days=5))
    claimed = await workflow.claim_next(refuser)
    assert claimed is not None and claimed.id == ordinary.id
    assert (await Application.get(id=appeal.id)).status is Status.QUEUED


async def test_the_refuser_cannot_claim_the_appeal_directly(desk):
    refuser = await desk.reviewer()
    other = await desk.reviewer()
    _, appeal = await _appeal_of_refusal_by(refuser.reviewer)
    refused = await refuser.post(f"/review/applications/{appeal.reference}/claim")
    assert refused.status_code == 409
    assert "You refused the original application" in refused.text
    assert (await Application.get(id=appeal.id)).status is Status.QUEUED
    taken = await other.post(f"/review/applications/{appeal.reference}/claim")
    assert taken.status_code == 303
    assert taken.headers["location"] == f"/review/applications/{appeal.reference}"
    fresh = await Application.get(id=appeal.id)
    assert fresh.status is Status.IN_REVIEW
    assert fresh.assignee_id == other.reviewer.id  # type: ignore[attr-defined]


async def test_the_refuser_cannot_claim_even_as_lead(app):
    lead = await reviewer(role="lead")
    _, appeal = await _appeal_of_refusal_by(lead)
    assert await workflow.claim_next(lead) is None
    try:
        await workflow.claim(appeal, actor(lead))
    except DomainError as exc:
        assert "another reviewer must decide this appeal" in exc.message
    else:
        raise AssertionError("the refuser claimed the appeal")


async def test_a_held_application_claimed_over_http_by_another_is_409(desk):
    asker = await desk.reviewer()
    other = await desk.reviewer()
    held = await make(held_for=asker.reviewer,
                      held_until=datetime.now(UTC) + timedelta(hours=20))
    response = await other.post(f"/review/applications/{held.reference}/claim")
    assert response.status_code == 409
    assert (await Application.get(id=held.id)).status is Status.QUEUED
    mine = await asker.post(f"/review/applications/{held.reference}/claim")
    assert mine.status_code == 303


# The lease

async def test_stale_claims_go_back_to_the_queue(app):
    holder = await reviewer()
    now = datetime.now(UTC)
    idle = await make(status=Status.IN_REVIEW, assignee=holder, claimed_at=now - timedelta(hours=1),
                      last_activity_at=now - timedelta(minutes=31))
    busy = await make(status=Status.IN_REVIEW, assignee=holder, claimed_at=now - timedelta(hours=1),
                      last_activity_at=now - timedelta(minutes=5))
    await workflow.release_stale_claims(now=now)
    released = await Application.get(id=idle.id)
    assert released.status is Status.QUEUED
    assert released.assignee_id is None and released.claimed_at is None  # type: ignore[attr-defined]
    kept = await Application.get(id=busy.id)
    assert kept.status is Status.IN_REVIEW
    assert kept.assignee_id == holder.id  # type: ignore[attr-defined]
    events = await Event.filter(application_id=idle.id, type="release")
    assert len(events) == 1
    assert events[0].actor == "system"
    assert (events[0].from_status, events[0].to_status) == ("in_review", "queued")
    assert "30 minutes" in events[0].message
    assert not await Event.filter(application_id=busy.id, type="release").exists()
    # Once back in the queue anyone may take it.
    claimed = await workflow.claim_next(await reviewer())
    assert claimed is not None and claimed.id == idle.id


async def test_the_lease_counts_from_the_given_time(app):
    holder = await reviewer()
    now = datetime.now(UTC)
    recent = await make(status=Status.IN_REVIEW, assignee=holder,
                        last_activity_at=now - timedelta(minutes=5))
    await workflow.release_stale_claims(now=now)
    assert (await Application.get(id=recent.id)).status is Status.IN_REVIEW
    await workflow.release_stale_claims(now=now + timedelta(minutes=26))
    assert (await Application.get(id=recent.id)).status is Status.QUEUED


async def test_opening_the_application_renews_the_lease(desk):
    signed = await desk.reviewer()
    now = datetime.now(UTC)
    held = await make(status=Status.IN_REVIEW, assignee=signed.reviewer,
                      last_activity_at=now - timedelta(minutes=29))
    page = await signed.get(f"/review/applications/{held.reference}")
    assert page.status_code == 200
    await workflow.release_stale_claims(now=now + timedelta(minutes=5))
    assert (await Application.get(id=held.id)).status is Status.IN_REVIEW


async def test_a_lead_cannot_hand_the_appeal_to_the_refuser(app):
    refuser = await reviewer()
    lead = await reviewer(role="lead")
    holder = await reviewer()
    _, appeal = await _appeal_of_refusal_by(refuser)
    await workflow.claim(appeal, actor(holder))
    try:
        await workflow.reassign(appeal, actor(lead), refuser)
    except DomainError as exc:
        assert "cannot decide its appeal" in exc.message
    else:
        raise AssertionError("the appeal was handed to the reviewer who refused the original")
    fresh = await Application.get(id=appeal.id)
    assert fresh.assignee_id == holder.id  # type: ignore[attr-defined]


async def test_a_lead_cannot_hand_a_claim_to_someone_outside_its_queue(app):
    """They could not even open it: it would sit unseen until the lease ran out."""
    lead = await reviewer(role="lead")
    holder = await reviewer()
    elsewhere = await reviewer(kinds=["recovery"])
    application = await make_application()
    await workflow.claim(application, actor(holder))
    try:
        await workflow.reassign(application, actor(lead), elsewhere)
    except DomainError as exc:
        assert "does not work this application's queue" in exc.message
    else:
        raise AssertionError("the claim went to a reviewer who cannot see the application")
    fresh = await Application.get(id=application.id)
    assert fresh.assignee_id == holder.id  # type: ignore[attr-defined]
