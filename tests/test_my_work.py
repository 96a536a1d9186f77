"""My work: what a reviewer holds, what came back to them (answered, with when), and what
waits on applicants they asked; one click from the queue; only their own rows. And "Take
the next application" says when only appeals of their own refusals wait."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from support import workflow
from support.data.models import Application, Event, Status
from support.documents.store import DocumentStore
from support.workflow import Decision
from tests.factories import make_application as make
from tests.test_queue import references as refs


def section(page: str, name: str) -> str:
    match = re.search(rf'<section aria-labelledby="mine-{name}".*?</section>', page, re.S)
    assert match, name
    return match.group(0)


def count(html: str) -> int:
    match = re.search(r'<h2 id="mine-\w+">[^<]*<span class="count">([\d,]+)</span>', html)
    assert match
    return int(match.group(1).replace(",", ""))


async def ask(signed, application: Application) -> None:
    """The reviewer takes it and asks the applicant for a receipt (the workflow's path)."""
    actor = workflow.reviewer_actor(signed.reviewer)
    await workflow.claim(application, actor)
    await workflow.decide(await Application.get(id=application.id), actor,
                          Decision("request_info", "Please send the receipt.",
                                   items=("receipt",)))


async def test_my_work_shows_held_asked_and_answered(desk, settings):
    me = await desk.reviewer()
    other = await desk.reviewer()
    held = await make()
    await workflow.claim(held, workflow.reviewer_actor(me.reviewer))
    waiting = await make()
    await ask(me, waiting)
    answered = await make()
    await ask(me, answered)
    await workflow.reply(settings, DocumentStore.of(settings), await Application.get(
        id=answered.id), "Here is the receipt.", [])
    # Someone else's work is not mine.
    theirs = await make()
    await ask(other, theirs)
    await make()  # waiting in the queue for anyone

    page = (await me.get("/review/mine")).text
    assert refs(section(page, "held")) == [held.reference]
    assert refs(section(page, "waiting")) == [waiting.reference]
    assert refs(section(page, "answered")) == [answered.reference]
    assert [count(section(page, name)) for name in ("held", "answered", "waiting")] == [1, 1, 1]
    answered_row = section(page, "answered")
    assert '<span class="badge">answered</span>' in answered_row
    reply = await Event.get(application_id=answered.id, type="reply")
    assert (f'<td data-label="Answered"><time datetime="{reply.at.isoformat()}">'
            f'{reply.at.strftime("%-d %b, %H:%M UTC")}</time> (0 min ago)</td>') in answered_row
    assert '<td data-label="Held for you">for 23 h more</td>' in answered_row
    by = re.search(r'<td data-label="Answer due">([^<]*)</td>', section(page, "waiting"))
    assert by and by.group(1) == "in 13 d", by


async def test_my_work_is_one_click_from_the_queue_with_its_count(desk, settings):
    me = await desk.reviewer()
    waiting = await make()
    await ask(me, waiting)
    queue_page = (await me.get("/review/queue")).text
    assert '<a href="/review/mine">My work <span class="count">1</span></a>' in queue_page
    mine = (await me.get("/review/mine")).text
    assert '<a href="/review/mine" aria-current="page">My work' in mine
    # The other tabs stay a click away, with their counts.
    assert 'href="/review/queue?tab=needs_info">' in mine


async def test_my_work_empty_says_so(desk):
    me = await desk.reviewer()
    page = (await me.get("/review/mine")).text
    assert "You hold no application." in page
    assert "No applicant you asked has answered yet." in page
    assert "No applicant owes you an answer." in page


async def test_answer_claimed_by_the_asker_leaves_answered_for_held(desk, settings):
    me = await desk.reviewer()
    application = await make()
    await ask(me, application)
    await workflow.reply(settings, DocumentStore.of(settings),
                         await Application.get(id=application.id), "Sent.", [])
    await workflow.claim(await Application.get(id=application.id),
                         workflow.reviewer_actor(me.reviewer))
    page = (await me.get("/review/mine")).text
    assert refs(section(page, "held")) == [application.reference]
    assert refs(section(page, "answered")) == []
    assert refs(section(page, "waiting")) == []


async def test_my_work_needs_a_session(app, client):
    response = await client.get("/review/mine", follow_redirects=False)
    assert response.status_code == 303
    assert "/review/login" in response.headers["location"]


# Take the next application

async def test_take_next_says_when_only_own_refusals_appeals_wait(desk):
    me = await desk.reviewer()
    original = await make(status=Status.REJECTED, decided_at=datetime.now(UTC),
                          decided_by=me.reviewer)
    appeal = await make(kind="appeal", appeal_of=original,
                        due_at=datetime.now(UTC) + timedelta(hours=4))
    response = await me.post("/review/next")
    assert response.status_code == 303
    page = (await me.get(response.headers["location"])).text
    assert ("Only appeals of your own refusals are waiting; another reviewer must decide "
            "them.") in page
    assert "Nothing is waiting" not in page
    # Another reviewer takes it.
    other = await desk.reviewer()
    response = await other.post("/review/next")
    assert response.headers["location"] == f"/review/applications/{appeal.reference}"


async def test_take_next_with_nothing_waiting_says_nothing_is_waiting(desk):
    me = await desk.reviewer()
    response = await me.post("/review/next")
    page = (await me.get(response.headers["location"])).text
    assert "Nothing is waiting in your queues." in page

