"""The queue on a busy day, in Chromium: a lead selects three applications in review and
reassigns them at once; a reviewer searches by a phone's last four digits and by an
email's part before "@" and sees matches in every state, each saying its state; My work
shows what they hold and an answer that came back to them. A lead releases two at once;
a search by a reference's start and by an IMEI written with dashes. axe-core on every
page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.async_api import expect

from support import workflow
from support.data.models import Application, Reviewer, Status
from support.documents.store import DocumentStore
from support.reads.wording import state_word
from support.workflow import Decision
from tests.browser.test_journeys import sign_in
from tests.factories import make_application as make

pytestmark = pytest.mark.browser


async def test_lead_reassigns_three_and_a_reviewer_searches_and_sees_my_work(
        new_context, live, settings, recorder):
    now = datetime.now(UTC)
    holder = await Reviewer.create(email="old@maker.example", name="Olga", role="reviewer",
                                   password_hash="-", kinds=["unlock"], countries=[])
    held = [await make(status=Status.IN_REVIEW, assignee=holder, claimed_at=now)
            for _ in range(3)]
    priya = [
        await make(phone="+919812345678", email="priya.k@example.com"),
        await make(phone="+919812345678", email="priya.k@mail.example",
                   status=Status.REJECTED, decided_at=now),
        await make(phone="+919812345678", email="priya.k@example.org", kind="recovery",
                   status=Status.NEEDS_INFO, info_requested_at=now),
    ]
    await make(phone="+919812340000", email="priya.kumar@example.com")  # a near miss

    ravi_page = await sign_in(new_context, live, recorder, "Ravi")
    ravi = await Reviewer.get(name="Ravi")
    # An application Ravi asked about, answered since: back with him.
    asked = await make()
    actor = workflow.reviewer_actor(ravi)
    await workflow.claim(asked, actor)
    await workflow.decide(await Application.get(id=asked.id), actor, Decision(
        "request_info", "Please send the receipt.", items=("receipt",)))
    await workflow.reply(settings, DocumentStore.of(settings),
                         await Application.get(id=asked.id), "Here it is.", [])

    # The lead: three rows selected, one reviewer chosen, one button.
    lead = await sign_in(new_context, live, recorder, "Lena", role="lead")
    await lead.goto(f"{live}/review/queue?tab=in_review")
    await recorder.step(lead, "in-review-for-the-lead")
    for row in held:
        await lead.get_by_label(f"Select {row.reference}").check()
    await lead.select_option("#bulk-reviewer", label="Ravi")
    await lead.get_by_role("button", name="Reassign selected").click()
    await expect(lead.locator("#bulk-outcome")).to_contain_text(
        "Reassigned 3 applications to Ravi.")
    await recorder.step(lead, "reassigned-three")
    for row in held:
        assert (await Application.get(id=row.id)).assignee_id == ravi.id  # type: ignore[attr-defined]

    # The reviewer: the last four digits of a phone, from the tab he is on.
    await ravi_page.goto(f"{live}/review/queue?tab=decided")
    await ravi_page.fill("#q", "5678")
    await ravi_page.press("#q", "Enter")
    table = ravi_page.locator("table.queue")
    for row, status in zip(priya, (Status.QUEUED, Status.REJECTED, Status.NEEDS_INFO),
                           strict=True):
        line = table.locator("tr", has=ravi_page.locator(f"a.reference:text('{row.reference}')"))
        await expect(line.locator("td[data-label=State]")).to_have_text(state_word(status))
    await expect(table.locator("a.reference")).to_have_count(3)
    await recorder.step(ravi_page, "search-last-four-digits")

    # The part of an email before "@": the same three, not priya.kumar.
    await ravi_page.fill("#q", "priya.k")
    await ravi_page.press("#q", "Enter")
    await expect(table.locator("a.reference")).to_have_count(3)
    for row in priya:
        await expect(table).to_contain_text(row.reference)
    await recorder.step(ravi_page, "search-email-before-at")

    # My work: one click from the queue.
    await ravi_page.get_by_role("link", name=re.compile(r"^My work")).click()
    await ravi_page.wait_for_url(re.compile(r"/review/mine$"))
    mine = ravi_page.locator("#section-held")
    for row in held:
        await expect(mine).to_contain_text(row.reference)
    answered = ravi_page.locator("#section-answered")
    await expect(answered).to_contain_text(asked.reference)
    await expect(answered.locator(".badge")).to_have_text("answered")
    await expect(answered.locator("td[data-label=Answered]")).to_contain_text("UTC")
    await recorder.step(ravi_page, "my-work")


async def test_lead_releases_two_and_search_finds_a_reference_start_and_an_imei(
        new_context, live, recorder):
    now = datetime.now(UTC)
    holder = await Reviewer.create(email="old@maker.example", name="Olga", role="reviewer",
                                   password_hash="-", kinds=["unlock"], countries=[])
    released = [await make(status=Status.IN_REVIEW, assignee=holder, claimed_at=now)
                for _ in range(2)]
    kept = await make(status=Status.IN_REVIEW, assignee=holder, claimed_at=now)

    lena = await sign_in(new_context, live, recorder, "Lena", role="lead")
    await lena.goto(f"{live}/review/queue?tab=in_review")
    for row in released:
        await lena.get_by_label(f"Select {row.reference}").check()
    await lena.get_by_role("button", name="Release selected to the queue").click()
    outcome = lena.locator("#bulk-outcome")
    await expect(outcome).to_contain_text("Released 2 applications to the queue.")
    for row in released:
        await expect(lena.locator("ul.bulk-done")).to_contain_text(row.reference)
    await recorder.step(lena, "released-two")
    for row in released:
        back = await Application.get(id=row.id)
        assert (back.status, back.assignee_id) == (Status.QUEUED, None)  # type: ignore[attr-defined]
    still = await Application.get(id=kept.id)
    assert still.status is Status.IN_REVIEW and still.assignee_id == holder.id  # type: ignore[attr-defined]
    await lena.get_by_role("link", name="Back to the queue").click()
    await lena.wait_for_url(re.compile(r"/review/queue\?tab=in_review$"))
    await expect(lena.locator("table.queue")).to_contain_text(kept.reference)
    await expect(lena.locator("table.queue")).not_to_contain_text(released[0].reference)

    # A reference's start, typed in lower case: both that start so, each with its state.
    first = await make(reference="UL-7KQ2-ABCD", status=Status.APPROVED, decided_at=now)
    second = await make(reference="UL-7KQ9-WXYZ")
    other = await make(reference="UL-7KR2-ABCD")
    await lena.fill("#q", "ul-7kq")
    await lena.press("#q", "Enter")
    table = lena.locator("table.queue")
    await expect(table.locator("a.reference")).to_have_count(2)
    for row, status in ((first, Status.APPROVED), (second, Status.QUEUED)):
        line = table.locator("tr", has=lena.locator(f"a.reference:text('{row.reference}')"))
        await expect(line.locator("td[data-label=State]")).to_have_text(state_word(status))
    await expect(table).not_to_contain_text(other.reference)
    await recorder.step(lena, "search-reference-start")

    # An IMEI written as a box prints it.
    phone = await make(imei="490154203237518", status=Status.REJECTED, decided_at=now)
    await make(imei="490154203237526")
    await lena.fill("#q", "49-015420-323751-8")
    await lena.press("#q", "Enter")
    await expect(table.locator("a.reference")).to_have_count(1)
    line = table.locator("tr", has=lena.locator(f"a.reference:text('{phone.reference}')"))
    await expect(line.locator("td[data-label=State]")).to_have_text(state_word(Status.REJECTED))
    await recorder.step(lena, "search-imei")
