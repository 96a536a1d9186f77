"""The state machine under random use (issue 7).

Random sequences of actions by random actors (the applicant with the right or a wrong
code, the holder of the status link, the reviewer holding the claim, another reviewer of
the same queue, a reviewer of another queue, a lead, the clock) on real applications in
the database. After every step the application must be in a state the rules allow, its
timeline must explain how it got there through ``TRANSITIONS`` only, and the applicant
must have been told of every change they can see. Each step is also predicted from the
rules before it runs: what the table allows must happen, what it refuses must change
nothing. The same walk through HTTP must never answer 5xx.
"""

from __future__ import annotations

import itertools
import secrets
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from tortoise.contrib.test import truncate_all_models

from support import workflow
from support.config import Settings
from support.data.models import (
    AccessToken,
    Application,
    Event,
    Notification,
    Reviewer,
    Status,
    Verification,
)
from support.documents.store import DocumentStore
from support.rules.kinds import INFO_ITEMS, KINDS, REJECTION_REASONS
from support.workflow import TRANSITIONS, DomainError
from support.workflow.machine import ACTIVE, OPEN, Actor, reviewer_actor
from tests.conftest import Desk, Signed
from tests.factories import page_version
from tests.fuzz_inputs import PROFILE

_numbers = itertools.count(1)
REVIEWERS = ("a", "b", "c", "lead")  # a and b share the queue; c works Russia only
DECISIONS = ("approve", "reject", "request_info")
REASON = "I develop a custom kernel for this phone and need to flash my test builds."


def _quiet(base: Settings) -> Settings:
    """A new code may be asked for at once (the walk has no minute to wait), and no rate
    limit counts the walk's requests, where this version of Settings has them."""
    changes: dict[str, Any] = {"code_resend_after_seconds": 0}
    if "rate_limits" in {f.name for f in fields(Settings)}:
        changes["rate_limits"] = False
    return replace(base, **changes)


@pytest.fixture(name="settings")
def quiet_settings(settings: Settings) -> Settings:  # the root fixture's, made _quiet
    return _quiet(settings)


# --- the steps --------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    who: str  # applicant | link | a | b | c | lead | clock
    what: str
    target: int = 0  # which of the walk's applications (the original, or its appeal)
    detail: str = ""  # whom to reassign to; whether a decision is complete; right or wrong

    def __str__(self) -> str:
        return f"{self.who}:{self.what}@{self.target}{':' + self.detail if self.detail else ''}"


def _steps() -> list[Step]:
    steps = [
        Step("applicant", "verify", detail="right"), Step("applicant", "verify", detail="wrong"),
        Step("applicant", "resend"), Step("link", "withdraw"), Step("link", "reply"),
        Step("link", "appeal"), Step("link", "lookup", detail="right"),
        Step("link", "lookup", detail="wrong"), Step("clock", "now"), Step("clock", "later"),
    ]
    for who in REVIEWERS:
        steps += [Step(who, "claim"), Step(who, "claim_next"), Step(who, "release"),
                  Step(who, "note")]
        steps += [Step(who, action, detail="complete") for action in DECISIONS]
        steps.append(Step(who, "reject", detail="incomplete"))
    # A lead hands a claim to anyone (back to its holder, or out of their queues); a plain
    # reviewer tries to.
    steps += [Step("lead", "reassign", detail=to) for to in REVIEWERS]
    steps.append(Step("a", "reassign", detail="b"))
    return steps


STEPS = _steps()
STARTS = ("submitted", "queued", "in_review", "needs_info", "replied", "approved", "rejected")
WALK_LENGTH = st.integers(4, 16)


def relevant_steps(application: Application) -> list[Step]:
    """Every step about this state, by every actor, allowed or not: half of a walk's steps
    come from here, so walks get past the first refusal into the later states (appeals,
    replies, reassigned claims) and every actor knocks on every door that is there."""
    status = application.status
    found = []
    for step in STEPS:
        if step.what in TRANSITIONS:
            applies = status in TRANSITIONS[step.what].source
        elif step.who == "clock":
            applies = status in {Status.SUBMITTED, Status.IN_REVIEW, Status.NEEDS_INFO}
        else:
            applies = {"resend": Status.SUBMITTED, "appeal": Status.REJECTED,
                       "claim_next": Status.QUEUED}.get(step.what) is status
        if applies:
            found.append(step)
    return found


async def draw_step(data: st.DataObject, world: World) -> Step:
    target = data.draw(st.integers(0, 1), label="target")
    application = await Application.get(reference=world.reference(target))
    relevant = relevant_steps(application)
    if relevant and data.draw(st.booleans(), label="relevant"):
        return replace(data.draw(st.sampled_from(relevant), label="step"), target=target)
    return replace(data.draw(st.sampled_from(STEPS), label="step"), target=target)


# --- the world of one walk --------------------------------------------------------------


@dataclass
class World:
    settings: Settings
    team: dict[str, Reviewer]
    references: list[str] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # reference -> status-link token
    log: list[str] = field(default_factory=list)

    def actor(self, who: str) -> Actor:
        return reviewer_actor(self.team[who])

    def reference(self, target: int) -> str:
        return self.references[min(target, len(self.references) - 1)]


async def make_team() -> dict[str, Reviewer]:
    team = {}
    for who in REVIEWERS:
        n = next(_numbers)
        team[who] = await Reviewer.create(
            email=f"walk{n}@example.com", name=f"Walker {who} {n}", password_hash="-",
            role="lead" if who == "lead" else "reviewer",
            kinds=["unlock", "recovery", "appeal"], countries=["RU"] if who == "c" else [],
        )
    return team


def application_input(kind: str = "unlock") -> workflow.ApplicationInput:
    n = next(_numbers)
    return workflow.ApplicationInput(
        kind=KINDS[kind], account_id=f"7{n:09d}", country="IN", phone=f"+9198{n:08d}",
        email=f"walk{n}@example.com", model="Redmi Note 10 Pro", firmware="21.3.17",
        firmware_channel="developer", imei=None, reason=REASON, locale="en",
    )


async def current_code(application_id: int) -> str:
    """The code as the applicant's SMS carries it (the outbox is not delivered here)."""
    row = await Notification.filter(application_id=application_id,
                                    template="verification_code").order_by("-id").first()
    return str(row.context["code"]) if row else "000000"  # an appeal never had one


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def decision(action: str, complete: bool) -> workflow.Decision:
    if not complete:
        return workflow.Decision(action=action, text="No.", reason_code=None)
    return workflow.Decision(
        action=action, text="Our answer to you.",
        reason_code="reason_insufficient" if action == "reject" else None,
        items=("receipt",) if action == "request_info" else (),
    )


# --- what the rules predict -------------------------------------------------------------


async def barred(application: Application, reviewer: Reviewer) -> bool:
    original_id = application.appeal_of_id  # type: ignore[attr-defined]
    if original_id is None:
        return False
    original = await Application.get(id=original_id)
    return original.decided_by_id == reviewer.id  # type: ignore[attr-defined]


def holds(application: Application, reviewer: Reviewer) -> bool:
    return reviewer.role == "lead" or application.assignee_id == reviewer.id  # type: ignore[attr-defined]


async def predict(world: World, step: Step, application: Application) -> bool | None:
    """Whether the rules allow the step now: True, False, or None where the outcome
    depends on other applications (claim_next) or needs no prediction (the clock)."""
    status = application.status
    now = datetime.now(UTC)
    if step.who == "link" and application.reference not in world.tokens:
        return False  # nobody holds a link to an unconfirmed application
    if step.what == "verify":
        verification = await Verification.get_or_none(application_id=application.id)
        return (step.detail == "right" and status is Status.SUBMITTED
                and verification is not None
                and verification.attempts < world.settings.code_attempts
                and verification.expires_at > now)
    if step.what == "resend":
        verification = await Verification.get_or_none(application_id=application.id)
        return (status is Status.SUBMITTED and verification is not None
                and verification.sends <= world.settings.code_max_resends)
    if step.what == "withdraw":
        return status in OPEN
    if step.what == "reply":
        return status is Status.NEEDS_INFO
    if step.what == "appeal":
        return (status is Status.REJECTED and application.kind == "unlock"
                and not await Application.exists(appeal_of_id=application.id))
    if step.what == "lookup":
        return step.detail == "right" and status is not Status.SUBMITTED
    if step.what in {"claim_next"} or step.who == "clock":
        return None
    if step.what == "note":
        return True
    reviewer = world.team[step.who]
    if step.what == "claim":
        held_for = application.held_for_id  # type: ignore[attr-defined]
        return (status is Status.QUEUED and step.who != "c"
                and not await barred(application, reviewer)
                and (held_for in (None, reviewer.id) or application.held_until < now))
    if step.what == "release":
        return status is Status.IN_REVIEW and holds(application, reviewer)
    if step.what == "reassign":
        return (reviewer.role == "lead" and status is Status.IN_REVIEW
                and step.detail != "c"  # c works Russia only: could not open it
                and not await barred(application, world.team[step.detail]))
    assert step.what in DECISIONS, step
    return (step.detail == "complete" and status is Status.IN_REVIEW
            and holds(application, reviewer) and not await barred(application, reviewer))


TARGETS = {"verify": Status.QUEUED, "resend": Status.SUBMITTED, "appeal": Status.REJECTED,
           "lookup": None, "note": None}


def expected_status(step: Step, before: Status) -> Status:
    if step.what in TARGETS:
        return TARGETS[step.what] or before
    return TRANSITIONS[step.what].target


# --- running a step ---------------------------------------------------------------------


async def run_step(world: World, step: Step, application: Application) -> bool:
    """Take the step through the workflow layer, as its endpoint would; True if it was
    taken, False if the rules refused it (DomainError). Any other exception fails."""
    reference = application.reference
    settings = world.settings
    try:
        if step.what == "verify":
            code = await current_code(application.id)
            link = await workflow.verify(settings, reference,
                                         code if step.detail == "right" else wrong(code))
            world.tokens[reference] = link.rsplit("/", 1)[1]
        elif step.what == "resend":
            await workflow.resend_code(settings, reference)
        elif step.who == "link":
            token = world.tokens.get(reference)
            found = await workflow.application_for_token(token) if token else None
            if found is None:
                return False  # nobody holds a link to an unconfirmed application
            return await _by_link(world, step, found)
        elif step.who == "clock":
            later = datetime.now(UTC) + timedelta(days=60 if step.what == "later" else 0)
            await workflow.expire_unverified(settings, now=later)
            await workflow.expire_unanswered(now=later)
            await workflow.release_stale_claims(now=later)
        else:
            return await _by_reviewer(world, step, application)
    except DomainError as refusal:
        assert "%(" not in refusal.message % refusal.params if refusal.params else True
        return False
    return True


async def _by_link(world: World, step: Step, application: Application) -> bool:
    settings = world.settings
    if step.what == "withdraw":
        await workflow.withdraw(application)
    elif step.what == "reply":
        await workflow.reply(settings, DocumentStore.of(settings), application,
                             "Here is the receipt you asked for.", [])
    elif step.what == "appeal":
        link = await workflow.appeal(settings, application, application_input("appeal"))
        appeal = await Application.get(appeal_of_id=application.id)
        world.references.append(appeal.reference)
        world.tokens[appeal.reference] = link.rsplit("/", 1)[1]
    else:
        contact = application.phone if step.detail == "right" else "+919000000001"
        return await workflow.request_status_link(settings, application.reference, contact)
    return True


async def _by_reviewer(world: World, step: Step, application: Application) -> bool:
    actor = world.actor(step.who)
    if step.what == "claim":
        await workflow.claim(application, actor)
    elif step.what == "claim_next":
        await workflow.claim_next(world.team[step.who])
    elif step.what == "release":
        await workflow.release(application, actor)
    elif step.what == "reassign":
        await workflow.reassign(application, actor, world.team[step.detail])
    elif step.what == "note":
        await workflow.add_note(application, world.team[step.who], "Checked the receipt.")
    else:
        await workflow.decide(application, actor, decision(step.what,
                                                           step.detail == "complete"))
    return True


async def start(world: World, how: str) -> None:
    """The walk's first application, brought to its starting state the real way."""
    settings = world.settings
    application = await workflow.submit(settings, DocumentStore.of(settings),
                                        application_input(), [], secrets.token_urlsafe(18))
    world.references.append(application.reference)
    path = {
        "submitted": [], "queued": ["verify"], "in_review": ["verify", "claim"],
        "needs_info": ["verify", "claim", "request_info"],
        "replied": ["verify", "claim", "request_info", "reply"],
        "approved": ["verify", "claim", "approve"], "rejected": ["verify", "claim", "reject"],
    }[how]
    for what in path:
        who = "link" if what == "reply" else "applicant" if what == "verify" else "a"
        step = Step(who, what, detail="right" if what == "verify" else "complete")
        fresh = await Application.get(reference=application.reference)
        assert await run_step(world, step, fresh), step


# --- the invariants ---------------------------------------------------------------------


def _told(event: Event, is_appeal: bool) -> Counter[str]:
    """The messages the applicant must have been sent for this event."""
    both = ("email", "sms")
    if event.type == "submitted":
        template = "received" if is_appeal else "verification_code"
        return Counter({f"{template}/{c}": 1 for c in both})
    if event.type == "expire" and event.from_status == Status.SUBMITTED.value:
        return Counter()  # nobody confirmed this contact: nothing more is sent to it
    templates = {"code_resent": "verification_code", "verify": "received",
                 "withdraw": "withdrawn", "approve": "approved", "reject": "rejected",
                 "request_info": "info_requested", "expire": "expired_no_reply"}
    if event.type in templates:
        return Counter({f"{templates[event.type]}/{c}": 1 for c in both})
    if event.type == "reply":
        return Counter({"reply_received/email": 1})
    if event.type == "status_link_sent":
        channel = "email" if "email" in event.message else "sms"
        return Counter({f"status_link/{channel}": 1})
    return Counter()


async def check_invariants(world: World) -> None:
    roles = {actor.label: actor.roles for actor in map(reviewer_actor, world.team.values())}
    for reference in world.references:
        application = await Application.get(reference=reference)
        context = (reference, application.status, world.log)
        status = application.status
        assert status in set(Status), context
        assignee = application.assignee_id  # type: ignore[attr-defined]

        # Who holds it.
        if status is Status.IN_REVIEW:
            assert assignee is not None and application.claimed_at is not None, context
            assert application.held_for_id is None, context  # type: ignore[attr-defined]
        elif status in OPEN:
            assert assignee is None, context

        # Decisions and requests carry what the applicant was told.
        decided = status in {Status.APPROVED, Status.REJECTED}
        assert (application.decided_at is not None) == decided, context
        if decided:
            assert application.decided_by_id is not None, context  # type: ignore[attr-defined]
            assert application.decision_text, context
            if status is Status.REJECTED:
                assert application.decision_code in REJECTION_REASONS, context
            else:
                assert application.decision_code is None, context
                assert application.permission_expires_at is not None, context
        if status is Status.NEEDS_INFO:
            request = application.info_request or {}
            assert request.get("items") and set(request["items"]) <= set(INFO_ITEMS), context
            assert application.info_requested_at is not None, context

        # Confirmation: a code only while unconfirmed, a link once confirmed.
        if status is Status.SUBMITTED:
            assert application.verified_at is None, context
        if status in ACTIVE or decided:
            assert application.verified_at is not None and application.due_at is not None
            assert await AccessToken.exists(application_id=application.id), context
        if await Verification.exists(application_id=application.id):
            assert status in {Status.SUBMITTED, Status.WITHDRAWN}, context

        # The timeline: each change follows the previous one through TRANSITIONS.
        events = await Event.filter(application_id=application.id).order_by("id")
        changes = [e for e in events if e.to_status is not None]
        assert changes and changes[0].type == "submitted", context
        for before, change in itertools.pairwise(changes):
            rule = TRANSITIONS.get(change.type)
            assert rule is not None, (change.type, context)
            assert change.from_status == before.to_status, (change.type, context)
            assert Status(change.from_status) in rule.source, (change.type, context)
            assert change.to_status == rule.target.value, (change.type, context)
            assert roles.get(change.actor, frozenset({change.actor})) & rule.actors, (
                change.actor, change.type, context)
        assert changes[-1].to_status == status.value, context

        # The applicant heard of every change they can see, once per channel.
        is_appeal = application.appeal_of_id is not None  # type: ignore[attr-defined]
        expected: Counter[str] = Counter()
        for happened in events:
            expected += _told(happened, is_appeal)
        sent = Counter(f"{n.template}/{n.channel}" for n in
                       await Notification.filter(application_id=application.id))
        assert sent == expected, (sent, expected, context)

        # Appeals: one per refusal, never judged by the reviewer who refused.
        if is_appeal:
            original = await Application.get(id=application.appeal_of_id)  # type: ignore[attr-defined]
            refused_by = original.decided_by_id  # type: ignore[attr-defined]
            assert await Application.filter(appeal_of_id=original.id).count() == 1
            assert application.decided_by_id != refused_by, context  # type: ignore[attr-defined]
            assert assignee != refused_by, context


async def snapshot(application: Application) -> tuple[object, ...]:
    fresh = await Application.get(id=application.id)
    return (fresh.status, fresh.assignee_id, fresh.held_for_id,  # type: ignore[attr-defined]
            await Event.filter(application_id=application.id).count(),
            await Notification.filter(application_id=application.id).count())


# --- the walk through the workflow layer ------------------------------------------------


@settings(PROFILE, max_examples=100)
@given(data=st.data())
async def test_random_walks_keep_every_application_in_a_legal_state(app, settings, data):
    await truncate_all_models()  # each walk alone: claim_next must not find another's rows
    world = World(settings, await make_team())
    await start(world, data.draw(st.sampled_from(STARTS), label="start"))
    await check_invariants(world)
    for _ in range(data.draw(WALK_LENGTH, label="length")):
        step = await draw_step(data, world)
        application = await Application.get(reference=world.reference(step.target))
        expected = await predict(world, step, application)
        before = await snapshot(application)
        taken = await run_step(world, step, application)
        world.log.append(f"{step}{'' if taken else ' (refused)'}")
        event(f"{step.what} {'taken' if taken else 'refused'}")
        after = await Application.get(id=application.id)
        if expected is not None:
            assert taken == expected, world.log
        if taken and step.what not in {"claim_next", "lookup"} and step.who != "clock":
            assert after.status is expected_status(step, before[0]), world.log
        if not taken:
            assert await snapshot(application) == before, world.log
        await check_invariants(world)


# --- the same walk through HTTP ---------------------------------------------------------


@dataclass
class Browsers:
    """The applicant's browser, and one signed-in browser per reviewer."""

    applicant: httpx2.AsyncClient
    desk: dict[str, Signed]


async def http_team(desk: Desk) -> dict[str, Signed]:
    """Signed in afresh for each walk (the tables were emptied), each in their own browser."""
    team = {}
    for who in REVIEWERS:
        team[who] = await desk.reviewer(
            name=f"Web {who}", role="lead" if who == "lead" else "reviewer",
            countries=["RU"] if who == "c" else None)
    return team


async def _post(client: httpx2.AsyncClient, path: str,
                data: dict[str, Any] | None = None) -> httpx2.Response:
    if "support_csrf" not in client.cookies:
        await client.get("/")
    return await client.post(path, data={"csrf_token": client.cookies["support_csrf"],
                                         **(data or {})})


async def http_step(world: World, browsers: Browsers, step: Step,
                    application: Application) -> httpx2.Response | None:
    """The step as a browser sends it; None where no page offers it (the clock, a link
    not yet received)."""
    reference = application.reference
    applicant = browsers.applicant
    if step.what == "verify":
        code = await current_code(application.id)
        response = await _post(applicant, f"/applications/{reference}/verify",
                               {"code": code if step.detail == "right" else wrong(code)})
        if response.status_code == 303:
            world.tokens[reference] = response.headers["location"].split("/")[2].split("?")[0]
        return response
    if step.what == "resend":
        return await _post(applicant, f"/applications/{reference}/verify/resend")
    if step.who == "link":
        token = world.tokens.get(reference)
        if token is None:
            return None
        if step.what == "lookup":
            contact = application.phone if step.detail == "right" else "+919000000001"
            return await _post(applicant, "/status", {"reference": reference,
                                                      "contact": contact})
        if step.what == "appeal":
            data = application_input("appeal")
            form = {name: getattr(data, name) for name in
                    ("account_id", "country", "phone", "email", "model", "firmware", "reason")}
            response = await _post(applicant, f"/status/{token}/appeal", form)
            if response.status_code == 303:
                appeal = await Application.get(appeal_of_id=application.id)
                world.references.append(appeal.reference)
                world.tokens[appeal.reference] = response.headers["location"].split(
                    "/")[2].split("?")[0]
            return response
        data = {"message": "Here is the receipt you asked for."} if step.what == "reply" else {}
        return await _post(applicant, f"/status/{token}/{step.what}", data)
    if step.who == "clock":
        await run_step(world, step, application)
        return None
    signed = browsers.desk[step.who]
    base = f"/review/applications/{reference}"
    if step.what == "claim_next":
        return await signed.post("/review/next")
    if step.what == "note":
        return await signed.post(f"{base}/notes", {"note": "Checked the receipt."})
    if step.what == "reassign":
        return await signed.post(f"{base}/reassign",
                                 {"reviewer_id": str(world.team[step.detail].id)})
    if step.what in DECISIONS:
        chosen = decision(step.what, step.detail == "complete")
        return await signed.post(f"{base}/decide", {
            "action": chosen.action, "message": chosen.text,
            "reason_code": chosen.reason_code or "", "items": list(chosen.items),
            "seen": await page_version(reference)})
    return await signed.post(f"{base}/{step.what}")


@settings(PROFILE, max_examples=40)
@given(data=st.data())
async def test_random_walks_over_http_never_answer_5xx(app, settings, desk, client, data):
    await truncate_all_models()
    team = await http_team(desk)
    world = World(settings, {who: signed.reviewer for who, signed in team.items()})
    browsers = Browsers(client, team)
    await start(world, data.draw(st.sampled_from(STARTS), label="start"))
    for _ in range(data.draw(WALK_LENGTH, label="length")):
        step = await draw_step(data, world)
        application = await Application.get(reference=world.reference(step.target))
        response = await http_step(world, browsers, step, application)
        if response is None:
            continue
        world.log.append(f"{step} -> {response.status_code}")
        assert response.status_code < 500, (world.log, response.text[:2000])
        assert response.status_code in {200, 303, 403, 404, 409, 422, 429}, world.log
        if response.status_code >= 400:
            assert "<h1" in response.text or 'class="error' in response.text, world.log
        await check_invariants(world)
    for reference in world.references:  # every page about it still opens
        token = world.tokens.get(reference)
        if token:
            assert (await client.get(f"/status/{token}")).status_code == 200, world.log
        for signed in team.values():
            page = await signed.get(f"/review/applications/{reference}")
            assert page.status_code in {200, 404}, world.log
