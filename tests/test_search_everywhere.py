"""Search across every state: by a reference's start, a phone's last digits, the part of an
email before "@", and the exact values as before; the results say each one's state; each
way of matching is an index range, never a scan (the plans are read on both databases)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from tortoise import connections

from support.data.models import Application, Status
from support.reads import queue
from support.reads.wording import state_word
from support.rules.kinds import KINDS
from support.workflow import retention
from support.workflow.applicant import ApplicationInput, new_application
from tests.factories import make_application as make


def states(page: str) -> dict[str, str]:
    """Reference -> the state its row says, in words."""
    return dict(re.findall(
        r'class="reference" href="/review/applications/([A-Z0-9-]+)">.*?'
        r'<td data-label="State">([^<]*)</td>', page, re.S))


async def found(signed: Any, text: str, **params: str) -> dict[str, str]:
    response = await signed.get("/review/queue?" + urlencode({"q": text, **params}))
    assert response.status_code == 200, response.text
    return states(response.text)


@pytest.fixture
async def people(desk):
    """Priya has applications in three states; near misses share parts of her values."""
    reviewer = await desk.reviewer()
    now = datetime.now(UTC)
    priya = [
        await make(reference="UL-7KQ2-AAAA", phone="+919812345678", email="priya.k@example.com"),
        await make(reference="UL-7KQ9-BBBB", phone="+919812345678", email="Priya.K@mail.example",
                   status=Status.APPROVED, decided_at=now),
        await make(reference="RC-7KQ2-CCCC", phone="+919812345678", email="priya.k@example.org",
                   kind="recovery", status=Status.NEEDS_INFO, info_requested_at=now),
    ]
    others = [
        await make(reference="UL-8KQ2-DDDD", phone="+919856785678", email="priya.kumar@example.com"),
        await make(reference="UL-7KR2-EEEE", phone="+79165678123", email="k.priya@example.com",
                   country="RU"),
    ]
    return reviewer, priya, others


async def test_phone_last_four_digits_find_every_state(people):
    reviewer, priya, _ = people
    assert await found(reviewer, "5678") == {
        priya[0].reference: state_word(Status.QUEUED),
        priya[2].reference: state_word(Status.NEEDS_INFO),
        priya[1].reference: state_word(Status.APPROVED), "UL-8KQ2-DDDD": state_word(Status.QUEUED),
    }
    # More digits narrow it; spaces and dashes as people read a number out are fine.
    assert set(await found(reviewer, "234-5678")) == {p.reference for p in priya}
    assert set(await found(reviewer, "98123 45678")) == {p.reference for p in priya}


async def test_a_phone_written_as_its_own_country_writes_it(people):
    """A Russian number as Russians write it at home ("8 ..."), with no +7: found, though
    the desk's default country is India; and India's own still by its national form."""
    reviewer, priya, others = people
    russian = others[1].reference
    assert set(await found(reviewer, "8 916 567-81-23")) == {russian}
    assert set(await found(reviewer, "8 (916) 567-81-23")) == {russian}
    assert set(await found(reviewer, "+7 916 567-81-23")) == {russian}
    assert set(await found(reviewer, "098123 45678")) == {p.reference for p in priya}
    assert set(await found(reviewer, "9812345678")) == {p.reference for p in priya}
    # A Russian number with another start is nobody's.
    assert await found(reviewer, "8 916 567-81-24") == {}


def test_a_national_number_is_looked_for_in_every_country_it_can_be():
    forms = queue.phone_forms("89165678123")
    assert "+79165678123" in forms
    assert queue.phone_forms("9812345678")[0] == "+919812345678"  # the default country first
    assert queue.phone_forms("+79165678123") == ("+79165678123",)
    assert queue.phone_forms("5678") == () and queue.phone_forms("priya.k") == ()
    branches = [b for b in queue.search_branches("8 916 567-81-23") if b.ordering == ("phone",)]
    assert len(branches) == 1  # one statement for every form, however many


async def test_three_digits_are_not_a_phone_search(people):
    reviewer, _, _ = people
    assert await found(reviewer, "678") == {}


async def test_email_part_before_the_at_sign_in_any_domain(people):
    """As typed or in lower case (addresses keep the case their owner typed before the
    "@"); not "priya.kumar" nor "k.priya"."""
    reviewer, priya, _ = people
    lower = {priya[0].reference, priya[2].reference}
    assert set(await found(reviewer, "priya.k")) == lower
    assert set(await found(reviewer, "priya.k@")) == lower
    assert set(await found(reviewer, "Priya.K")) == {p.reference for p in priya}
    # The whole address is still exact.
    assert set(await found(reviewer, "priya.k@example.org")) == {priya[2].reference}


async def test_reference_start_across_kinds_states_and_tabs(people):
    reviewer, priya, _ = people
    assert set(await found(reviewer, "UL-7KQ")) == {priya[0].reference, priya[1].reference}
    assert set(await found(reviewer, "ul 7k", tab="in_review")) == {
        priya[0].reference, priya[1].reference, "UL-7KR2-EEEE"}
    assert set(await found(reviewer, "rc7kq2")) == {priya[2].reference}
    assert await found(reviewer, "UL-") == {}  # a kind's letters alone are most of the table


async def test_search_keeps_the_reviewers_scope(desk, people):
    _, priya, _ = people
    recovery_only = await desk.reviewer(kinds=["recovery"])
    assert set(await found(recovery_only, "5678")) == {priya[2].reference}
    russia = await desk.reviewer(countries=["RU"])
    assert set(await found(russia, "ul7k")) == {"UL-7KR2-EEEE"}


async def test_more_matches_than_a_page_say_so(desk):
    reviewer = await desk.reviewer()
    for n in range(queue.PAGE_SIZE + 3):
        await make(phone=f"+9198{n:04d}04321")
    response = await reviewer.get("/review/queue?q=4321")
    assert len(states(response.text)) == queue.PAGE_SIZE
    assert "type more of it to narrow the search" in response.text


async def test_redacted_phone_is_not_found_by_its_last_digits(desk):
    reviewer = await desk.reviewer()
    row = await make(phone="+919800011122", status=Status.REJECTED, decided_at=datetime.now(UTC))
    assert set(await found(reviewer, "11122")) == {row.reference}
    await retention.redact([row], datetime.now(UTC), requested=False)
    stored = await Application.get(id=row.id)
    assert stored.phone_reversed == ""
    assert await found(reviewer, "11122") == {}


def test_new_applications_store_the_phone_backwards():
    """The form's path (and an appeal's) writes the column the last-digits search reads."""
    data = ApplicationInput(
        kind=KINDS["unlock"], account_id="6100000001", country="IN", phone="+919812340001",
        email="a@example.com", model="POCO F5", firmware="1.0", firmware_channel="developer",
        imei=None, reason="x", locale="en")
    row = new_application(data, "key", "UL-AAAA-BBBB")
    assert row.phone_reversed == "100043218919+"
    assert row.phone_reversed.startswith("1000")


@pytest.mark.parametrize("text", ["5678", "priya.k", "UL-7KQ", "9812345678", "priya.k@",
                                  "8 916 567-81-23"])
async def test_each_way_of_matching_is_an_index_range(people, text):
    """No scan of the table: each branch of a search, as the page sends it (the scope, the
    assignee's join, the index's order, a limit), reads a range of one index."""
    reviewer, _, _ = people
    connection = connections.get("default")
    postgres = connection.capabilities.dialect == "postgres"
    base = queue.filtered(reviewer.reviewer, queue.Filters())
    branches = queue.search_branches(text)
    assert branches
    for branch in branches:
        sql = base.filter(branch.condition).order_by(*branch.ordering).limit(51).select_related(
            "assignee").sql(params_inline=True)
        if postgres:
            # A table of five rows is read whole by choice; forbidden that, the plan shows
            # whether an index can serve the condition (B2 reads the plans at scale).
            await connection.execute_script("SET enable_seqscan = off")
            try:
                rows = await connection.execute_query_dict(f"EXPLAIN {sql}")
            finally:
                await connection.execute_script("SET enable_seqscan = on")
            plan = "\n".join(row["QUERY PLAN"] for row in rows)
            assert "Seq Scan on application" not in plan, plan
            assert re.search(r"Index (Only )?Scan using \S+ on application|"
                             r"Bitmap Index Scan on application", plan), plan
        else:
            rows = await connection.execute_query_dict(f"EXPLAIN QUERY PLAN {sql}")
            plan = "\n".join(str(row["detail"]) for row in rows)
            assert "SEARCH application USING" in plan, plan
            assert "SCAN application" not in plan, plan


@pytest.mark.parametrize("typed", [
    "@", "@@", "a@", "ü@", "x" * 64 + "@", "UL-", "ul-7", "UL-7K%", "UL-7K\\", "١٢٣٤٥",
    "0000", "+", "+1", "'; DROP TABLE application; --", "priya.k%", "\U0010ffff",
    "9" * 64, "UL-7KQ2-ABCD-EXTRA", "\u202eUL-7K", "%", "_",
])
async def test_odd_searches_find_nothing_and_never_fail(desk, typed):
    """Text people paste, or type by mistake: a page, never a 500; wildcards are not
    wildcards (``%`` and ``_`` are compared as characters)."""
    reviewer = await desk.reviewer()
    await make(phone="+919812345678", email="priya.k@example.com", reference="UL-7KQ2-ABCD")
    response = await reviewer.get("/review/queue?" + urlencode({"q": typed}))
    assert response.status_code == 200
    assert states(response.text) == {}
