"""The state machine: every (status, action) pair walked through the workflow functions,
and illegal moves answered 409 with a readable message over HTTP."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from support import workflow
from support.config import Settings
from support.data.models import Application, Event, Reviewer, Status, Verification
from support.documents.store import DocumentStore
from support.platform import tokens
from support.workflow import TRANSITIONS, DomainError
from support.workflow.machine import SYSTEM_ACTOR, locked, move
from tests.factories import make_application, page_version

_numbers = itertools.count(1)
CODE = "123456"


make = make_application


async def reviewer(role: str = "reviewer") -> Reviewer:
    n = next(_numbers)
    return await Reviewer.create(
        email=f"sm{n}@example.com", name=f"Reviewer {n}", role=role, password_hash="-",
        kinds=["unlock", "recovery", "appeal"], countries=[],
    )


@dataclass
class World:
    settings: Settings
    holder: Reviewer  # a plain reviewer; holds the application when it is in review
    lead: Reviewer
    other: Reviewer


async def in_status(world: World, status: Status) -> Application:
    """An application as it would be in this status, with the claim when one is needed."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {"status": status}
    if status is Status.SUBMITTED:
        values.update(verified_at=None, due_at=None)
    if status is Status.IN_REVIEW:
        values.update(assignee=world.holder, claimed_at=now, last_activity_at=now)
    if status is Status.NEEDS_INFO:
        values.update(info_requested_at=now, info_request={
            "items": ["receipt"], "message": "Send the receipt.",
            "reviewer_id": world.holder.id})
    if status in {Status.APPROVED, Status.REJECTED}:
        values.update(decided_at=now, decided_by=world.holder, decision_text="Done.")
    application = await make(**values)
    await Verification.create(
        application=application,
        code_hash=tokens.code_hash(world.settings.secret_key, application.reference, CODE),
        expires_at=now + timedelta(minutes=10), last_sent_at=now,
    )
    return application


async def _expire(world: World, application: Application) -> None:
    """The clock's two housekeeping jobs, run far in the future; where neither applies,
    the move itself is attempted the way they make it, so the rule must refuse it."""
    later = datetime.now(UTC) + timedelta(days=60)
    before = application.status
    await workflow.expire_unverified(world.settings, now=later)
    await workflow.expire_unanswered(now=later)
    if (await Application.get(id=application.id)).status is before:
        async with in_transaction():
            fresh = await locked(application.reference)
            await move(fresh, "expire", SYSTEM_ACTOR, "Expired.")


def _decision(action: str) -> workflow.Decision:
    return workflow.Decision(
        action=action, text="Our answer to you.",
        reason_code="reason_insufficient" if action == "reject" else None,
        items=("receipt",) if action == "request_info" else (),
    )


Runner = Callable[[World, Application], Awaitable[Any]]

# Each action, taken through its workflow function by an actor its rule allows.
RUNNERS: dict[str, tuple[str, Runner]] = {
    "verify": ("applicant", lambda w, a: workflow.verify(w.settings, a.reference, CODE)),
    "expire": ("system", _expire),
    "withdraw": ("applicant", lambda w, a: workflow.withdraw(a)),
    "claim": ("reviewer", lambda w, a: workflow.claim(a, workflow.reviewer_actor(w.holder))),
    "release": ("reviewer",
                lambda w, a: workflow.release(a, workflow.reviewer_actor(w.holder))),
    "reassign": ("lead",
                 lambda w, a: workflow.reassign(a, workflow.reviewer_actor(w.lead), w.other)),
    "approve": ("reviewer", lambda w, a: workflow.decide(
        a, workflow.reviewer_actor(w.holder), _decision("approve"))),
    "reject": ("reviewer", lambda w, a: workflow.decide(
        a, workflow.reviewer_actor(w.holder), _decision("reject"))),
    "request_info": ("reviewer", lambda w, a: workflow.decide(
        a, workflow.reviewer_actor(w.holder), _decision("request_info"))),
    "reply": ("applicant", lambda w, a: workflow.reply(
        w.settings, DocumentStore.of(w.settings), a, "Here is the receipt.", [])),
}


def test_every_action_has_a_runner_with_an_allowed_actor():
    assert set(RUNNERS) == set(TRANSITIONS) == set(workflow.ACTIONS)
    for action, (kind, _) in RUNNERS.items():
        assert kind in TRANSITIONS[action].actors, action


def readable(error: DomainError) -> str:
    text = error.message % error.params if error.params else error.message
    assert "%(" not in text and text.endswith("."), text
    assert text[0].isupper()
    return text


@pytest.fixture
async def world(app, settings) -> World:
    return World(settings, await reviewer(), await reviewer("lead"), await reviewer())


@pytest.mark.parametrize("action", list(TRANSITIONS))
@pytest.mark.parametrize("status", list(Status))
async def test_every_status_and_action(world, status, action):
    rule = TRANSITIONS[action]
    application = await in_status(world, status)
    _, run = RUNNERS[action]
    if status in rule.source:
        await run(world, application)
        fresh = await Application.get(id=application.id)
        assert fresh.status is rule.target
        event = await Event.filter(application_id=application.id, type=action).first()
        assert event is not None
        assert (event.from_status, event.to_status) == (status.value, rule.target.value)
    else:
        with pytest.raises(DomainError) as refused:
            await run(world, application)
        readable(refused.value)
        fresh = await Application.get(id=application.id)
        assert fresh.status is status
        assert not await Event.filter(application_id=application.id, type=action).exists()


HOLDER_ONLY = [action for action, rule in TRANSITIONS.items() if rule.holder_only]


def test_holder_only_actions_are_the_reviewers_decisions():
    assert set(HOLDER_ONLY) == {"release", "approve", "reject", "request_info"}


async def _as(world: World, action: str, who: Reviewer, application: Application) -> None:
    if action == "release":
        await workflow.release(application, workflow.reviewer_actor(who))
    else:
        await workflow.decide(application, workflow.reviewer_actor(who), _decision(action))


@pytest.mark.parametrize("action", HOLDER_ONLY)
async def test_a_plain_reviewer_must_hold_the_claim(world, action):
    application = await in_status(world, Status.IN_REVIEW)
    with pytest.raises(DomainError) as refused:
        await _as(world, action, world.other, application)
    assert "Claim it first" in readable(refused.value)
    assert (await Application.get(id=application.id)).status is Status.IN_REVIEW


@pytest.mark.parametrize("action", HOLDER_ONLY)
async def test_a_lead_need_not_hold_the_claim(world, action):
    application = await in_status(world, Status.IN_REVIEW)
    await _as(world, action, world.lead, application)
    assert (await Application.get(id=application.id)).status is TRANSITIONS[action].target


async def test_a_plain_reviewer_cannot_reassign(world):
    application = await in_status(world, Status.IN_REVIEW)
    with pytest.raises(DomainError):
        await workflow.reassign(application, workflow.reviewer_actor(world.holder), world.other)
    fresh = await Application.get(id=application.id)
    assert fresh.assignee_id == world.holder.id  # type: ignore[attr-defined]


async def test_the_allowed_table_matches_the_rules(world):
    """``allowed`` (what the page offers) says yes exactly where the walk succeeds."""
    actors = {
        "applicant": workflow.Actor("applicant"),
        "system": workflow.Actor("system"),
        "holder": workflow.reviewer_actor(world.holder),
        "lead": workflow.reviewer_actor(world.lead),
        "other": workflow.reviewer_actor(world.other),
    }
    for status in Status:
        application = Application(status=status, assignee_id=world.holder.id)
        for action, rule in TRANSITIONS.items():
            for name, who in actors.items():
                expected = status in rule.source and bool(who.roles & rule.actors) and not (
                    rule.holder_only and name == "other")
                assert workflow.allowed(application, action, who) is expected, (
                    status, action, name)


# Over HTTP

async def test_deciding_an_approved_application_is_409_with_a_reason(desk):
    signed = await desk.reviewer()
    approved = await make(status=Status.APPROVED, decided_at=datetime.now(UTC),
                          decided_by=signed.reviewer, decision_text="Yes.")
    response = await signed.post(f"/review/applications/{approved.reference}/decide",
                                 {"action": "reject", "message": "Changed my mind.",
                                  "reason_code": "other",
                                  "seen": await page_version(approved.reference)})
    assert response.status_code == 409
    assert "This application is approved, so that cannot be done now." in response.text
    assert "%(" not in response.text
    assert (await Application.get(id=approved.id)).status is Status.APPROVED


async def test_a_non_holder_deciding_is_told_to_claim_first(desk):
    holder = await desk.reviewer()
    other = await desk.reviewer()
    held = await make(status=Status.IN_REVIEW, assignee=holder.reviewer)
    response = await other.post(f"/review/applications/{held.reference}/decide",
                                {"action": "approve", "message": "Approved.",
                                 "seen": await page_version(held.reference)})
    assert response.status_code == 409
    assert "Claim it first." in response.text
    fresh = await Application.get(id=held.id)
    assert fresh.status is Status.IN_REVIEW
    assert fresh.assignee_id == holder.reviewer.id  # type: ignore[attr-defined]


async def test_a_lead_decides_without_holding(desk):
    holder = await desk.reviewer()
    lead = await desk.reviewer(role="lead")
    held = await make(status=Status.IN_REVIEW, assignee=holder.reviewer)
    response = await lead.post(f"/review/applications/{held.reference}/decide",
                               {"action": "approve", "message": "Approved.",
                                "seen": await page_version(held.reference)})
    assert response.status_code == 303
    assert response.headers["location"] == f"/review/applications/{held.reference}?notice=approved"
    fresh = await Application.get(id=held.id)
    assert fresh.status is Status.APPROVED
    assert fresh.decided_by_id == lead.reviewer.id  # type: ignore[attr-defined]
    assert await Event.filter(application_id=held.id, type="approve",
                              actor=f"reviewer:{lead.reviewer.id}").exists()


async def test_claiming_an_application_in_review_is_409(desk):
    holder = await desk.reviewer()
    other = await desk.reviewer()
    held = await make(status=Status.IN_REVIEW, assignee=holder.reviewer)
    response = await other.post(f"/review/applications/{held.reference}/claim")
    assert response.status_code == 409
    assert "This application is being reviewed, so that cannot be done now." in response.text


async def test_releasing_someone_elses_claim_is_409(desk):
    holder = await desk.reviewer()
    other = await desk.reviewer()
    held = await make(status=Status.IN_REVIEW, assignee=holder.reviewer)
    response = await other.post(f"/review/applications/{held.reference}/release")
    assert response.status_code == 409
    assert "Claim it first." in response.text
    assert (await Application.get(id=held.id)).status is Status.IN_REVIEW


@pytest.mark.parametrize("form, message", [
    ({"action": "delete", "message": "x"}, "Unknown decision."),
    ({"action": "approve", "message": "  "}, "Write the message the applicant will read."),
    ({"action": "reject", "message": "No."}, "Choose the reason for the refusal."),
    ({"action": "request_info", "message": "Send it."}, "Tick what the applicant must send."),
])
async def test_incomplete_decisions_are_409_with_a_reason(desk, form, message):
    signed = await desk.reviewer()
    held = await make(status=Status.IN_REVIEW, assignee=signed.reviewer)
    response = await signed.post(f"/review/applications/{held.reference}/decide",
                                 {**form, "seen": await page_version(held.reference)})
    assert response.status_code == 409
    assert message in response.text
    assert (await Application.get(id=held.id)).status is Status.IN_REVIEW
